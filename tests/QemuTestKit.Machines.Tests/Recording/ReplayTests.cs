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
}
