namespace H3.Tests.Models.Nested
{
    public static partial class Outer
    {
        internal partial class Inner
        {
            // Nested in partial types, internal, non-global namespace.
            [H3Model(EmbedDim = 4, Hidden = 6, State = 4, ConvSize = 2, Layers = 1, WindowSize = 5)]
            internal partial class NestedModel { }
        }
    }
}

