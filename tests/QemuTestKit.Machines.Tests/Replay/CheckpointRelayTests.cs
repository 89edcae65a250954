using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Machines.Tests.Replay;

public sealed class CheckpointRelayTests
{
    private static readonly long[] Icounts = [1_000, 2_000, 2_000, 3_000];

    [Fact]
    public void A_replay_goes_on_from_the_first_saved_checkpoint_of_each_icount_after_its_start_and_before_its_break()
    {
        var manifest = BundleSandbox.Manifest() with
        {
            Checkpoints = [.. Icounts.Select((icount, i) => new QemuTestKit.Machines.Runtime.Checkpoint($"c{i + 1}", icount, i * 10, DateTimeOffset.UnixEpoch))],
        };

        CheckpointRelay.PointsAfter(manifest, 0, null).Select(c => c.Name).Should().Equal("c1", "c2", "c4");
        CheckpointRelay.PointsAfter(manifest, 999, null).Select(c => c.Name).Should().Equal(["c2", "c4"], "one instruction before c1 lies at the start");
        CheckpointRelay.PointsAfter(manifest, 1_000, 3_000).Select(c => c.Name).Should().Equal(["c2"], "a break at a checkpoint's icount ends there");
        CheckpointRelay.PointsAfter(manifest, 3_000, null).Should().BeEmpty();
    }

    [Theory]
    [InlineData(1_000L, null, 1_999L)]          // one instruction before the next checkpoint: QEMU's seek then loads this one
    [InlineData(3_000L, null, long.MaxValue)]  // the last: run to the end
    [InlineData(1_000L, 1_500L, 1_500L)]         // the break comes first
    [InlineData(1_000L, 2_000L, 1_999L)]         // the break is the next checkpoint's icount: a seek there would load that one and never stop
    [InlineData(2_000L, 2_500L, 2_500L)]
    public void After_a_checkpoint_the_replay_stops_before_the_next_one_or_at_its_break(long icount, long? until, long expected)
    {
        CheckpointRelay.TargetAfter(Icounts, icount, until).Should().Be(expected);
    }
}

public sealed class ReplayStartTests
{
    [Theory]
    [InlineData(false, false, false, false, false)] // a full replay of an older bundle (no icount in its start snapshot) runs: nothing would continue it
    [InlineData(false, false, true, false, false)]
    [InlineData(false, true, false, false, true)]   // a break on such a bundle: held paused, then armed and continued
    [InlineData(false, true, true, false, false)]   // a break: set on the running replay
    [InlineData(true, false, true, false, true)]    // gdb attaches at the start
    [InlineData(false, true, true, true, true)]     // a break right after the start
    public void A_replay_starts_paused_only_where_something_holds_it(bool gdbAtStart, bool holds, bool startSnapshotHasIcount, bool breakNearStart, bool paused)
        => Replayer.StartsPaused(gdbAtStart, holds, startSnapshotHasIcount, breakNearStart).Should().Be(paused);
}
