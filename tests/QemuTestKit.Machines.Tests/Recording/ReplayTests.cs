using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Machines.Tests.Recording;

public sealed class ReplayTests(RecordedSessionFixture fixture) : IClassFixture<RecordedSessionFixture>
{
    [Fact]
    public void The_recorded_session_printed_random_values()
    {
        fixture.RecordedOutputs[0].Should().MatchRegex("^val-[0-9a-f]{16}$");
        fixture.RecordedOutputs[1].Should().MatchRegex("^val-[0-9a-f]{16}$").And.NotBe(fixture.RecordedOutputs[0]);
        fixture.Checkpoint.Icount.Should().BeGreaterThan(0);
        fixture.Checkpoint.TranscriptOffset.Should().BeGreaterThan(0);
    }

    [Fact]
    public async Task Replaying_ten_times_gives_the_recorded_console_byte_for_byte_each_time()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var recorded = await File.ReadAllBytesAsync(bundle.TranscriptPath, ct);

        for (var i = 0; i < 10; i++)
        {
            var result = await Replayer.ReplayAsync(bundle, cancellationToken: ct);

            result.Identical.Should().BeTrue($"replay {i + 1}: {result.Verdict}; recorded '{result.Recorded}', replayed '{result.Replayed}'");
            result.ComparedBytes.Should().Be(recorded.Length);
            result.Verdict.Should().Be($"replay: identical ({recorded.Length} bytes from ready)");
        }
    }

    [Fact]
    public async Task Replaying_from_a_checkpoint_replays_exactly_the_recorded_suffix()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var recorded = await File.ReadAllBytesAsync(bundle.TranscriptPath, ct);

        var result = await Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "after-two" }, ct);

        result.Identical.Should().BeTrue(result.Verdict);
        result.ComparedBytes.Should().Be(recorded.Length - fixture.Checkpoint.TranscriptOffset);
        result.From.Should().Be("after-two");
        System.Text.Encoding.UTF8.GetString(recorded, (int)fixture.Checkpoint.TranscriptOffset, (int)result.ComparedBytes)
            .Should().Contain(fixture.RecordedOutputs[2].Split('\n')[0]).And.NotContain(fixture.RecordedOutputs[1]);
    }

    [Fact]
    public async Task A_transcript_offset_maps_to_an_icount_stamped_before_that_output()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(fixture.BundlePath, ct);
        var offset = bundle.Manifest.Transcript.Length - 1;

        var icount = await TranscriptMap.IcountBeforeAsync(bundle, offset, ct);

        icount.Should().BeGreaterThan(0);
        (await TranscriptMap.IcountBeforeAsync(bundle, fixture.Checkpoint.TranscriptOffset + 1, ct)).Should().BeLessThanOrEqualTo(icount);
        var outside = () => TranscriptMap.IcountBeforeAsync(bundle, bundle.Manifest.Transcript.Length + 5, ct);
        (await outside.Should().ThrowAsync<ReplayException>()).Which.Message.Should().Contain("outside the transcript");
    }

    [Fact]
    public async Task Automatic_checkpoints_are_taken_at_the_requested_interval()
    {
        var ct = TestContext.Current.CancellationToken;
        var ready = fixture.Ready;
        await using var machine = await ready.Ready.StartAsync(ready.Spec,
            ready.Options with { Mode = QemuTestKit.Machines.CommandLine.RunMode.Record, CheckpointInterval = TimeSpan.FromSeconds(1) }, ct);

        (await machine.ExecAsync("sleep 4; echo done", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("done");

        var checkpoints = machine.Checkpoints;
        checkpoints.Select(c => c.Name).Should().StartWith(["auto-1", "auto-2"]);
        checkpoints.Select(c => c.Icount).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
    }
}
