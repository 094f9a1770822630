using System;
using System.Threading;
using System.Threading.Tasks;

namespace H3.Tests.Runtime;

/// <summary>H3StepTeam on its own: both parts run, barriers order them, a failing part never leaves the other waiting.</summary>
public class StepTeamTests
{
    [Fact]
    public void Both_parts_run_and_the_barrier_orders_their_phases()
    {
        var seen = new int[2];
        int phaseErrors = 0;
        H3StepTeam? team = null;
        team = new H3StepTeam(part =>
        {
            for (int phase = 1; phase <= 50; phase++)
            {
                Volatile.Write(ref seen[part], phase);
                team!.Sync();
                if (Volatile.Read(ref seen[1 - part]) < phase) Interlocked.Increment(ref phaseErrors); // the other part reached this phase too
                team.Sync();
            }
        });
        using (team)
        {
            for (int run = 0; run < 20; run++)
            {
                Array.Clear(seen);
                team.Run();
                Assert.Equal(50, seen[0]);
                Assert.Equal(50, seen[1]);
            }
        }
        Assert.Equal(0, phaseErrors);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_failing_part_makes_Run_throw_instead_of_hanging(int failingPart)
    {
        H3StepTeam? team = null;
        team = new H3StepTeam(part =>
        {
            if (part == failingPart) throw new InvalidOperationException("boom " + part);
            team!.Sync(); // the healthy part waits here for the failed one
            team.Sync();
        });
        using (team)
        {
            Task run = Task.Run(() => team.Run());
            Task first = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20)));
            Assert.True(ReferenceEquals(first, run), "Run did not return: a part is stuck at a barrier");
            await Assert.ThrowsAsync<InvalidOperationException>(() => run);
            // The team refuses to run again: the step it was in the middle of left the stream undefined.
            Assert.Throws<InvalidOperationException>(() => team.Run());
        }
    }

    [Fact]
    public void Dispose_stops_the_worker_and_Run_then_throws()
    {
        var team = new H3StepTeam(_ => { });
        team.Run();
        team.Dispose();
        team.Dispose();
        Assert.Throws<ObjectDisposedException>(() => team.Run());
    }
}
