using System.Text.Json.Nodes;
using QemuTestKit.Cli.Tests.Support;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Cli.Tests;

/// <summary><c>replay --json</c>, <c>--save-transcript</c> and the progress lines, on a real recording replayed by real QEMU.</summary>
public sealed class ReplayOutputTests(RecordedBundleFixture fixture) : IClassFixture<RecordedBundleFixture>, IDisposable
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(120);
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<CliResult> ReplayAsync(IReadOnlyDictionary<string, string?>? environment, params string[] args) =>
        CliRunner.RunAsync(["replay", .. args], fixture.CacheDir, Within, environment, cancellationToken: Ct);

    private static string[] Lines(string text) => text.Replace("\r", string.Empty, StringComparison.Ordinal).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task Json_is_one_document_on_stdout_and_the_progress_goes_to_stderr()
    {
        var recorded = await File.ReadAllBytesAsync(Path.Combine(fixture.Bundle, "console.log"), Ct);
        var saved = _temp.File("replayed.txt");
        await File.WriteAllTextAsync(saved, "an older transcript, replaced whole", Ct);

        var result = await ReplayAsync(null, fixture.Bundle, "--json", "--save-transcript", saved);

        result.ExitCode.Should().Be(0, result.ToString());
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        json["identical"]!.GetValue<bool>().Should().BeTrue();
        json["verdict"]!.GetValue<string>().Should().Be($"replay: identical ({recorded.Length} bytes from ready)");
        json["comparedBytes"]!.GetValue<long>().Should().Be(recorded.Length);
        json["from"]!.GetValue<string>().Should().Be("ready");
        json["where"]!.GetValue<string>().Should().Be("host");
        json["machine"]!.GetValue<string>().Should().Be("cli-replay");
        json["transcript"]!.GetValue<string>().Should().Be(saved);
        json["transcriptBytes"]!.GetValue<long>().Should().Be(recorded.Length);
        json.ContainsKey("divergedAt").Should().BeFalse("null fields are left out");
        json["relayedCheckpoints"]!.AsArray().Select(n => n!.GetValue<string>()).Should().Equal(["after-one"], "the replay went on from the checkpoint it passed");
        var progress = Lines(result.Stderr);
        progress[0].Should().StartWith($"replaying {fixture.Bundle}: machine cli-replay");
        progress.Should().Contain(l => l.StartsWith("replay: verifying the bundle's ", StringComparison.Ordinal))
            .And.Contain(l => l.StartsWith("replay: starting QEMU", StringComparison.Ordinal))
            .And.Contain($"replay: QEMU is replaying from ready, {recorded.Length} recorded console bytes to compare")
            .And.Contain("replay: went on from checkpoint after-one (loaded one instruction before it, as the recording saved it)");
        progress[^1].Should().Be(json["verdict"]!.GetValue<string>());
        (await File.ReadAllBytesAsync(saved, Ct)).Should().Equal(recorded, "an identical replay printed exactly the recorded console");
        Directory.GetFiles(_temp.Path).Should().Equal([saved], "the temporary file was renamed, not left behind");
    }

    [Fact]
    public async Task A_transcript_saved_from_a_checkpoint_holds_what_the_replay_printed_after_it()
    {
        var recorded = await File.ReadAllBytesAsync(Path.Combine(fixture.Bundle, "console.log"), Ct);
        await using var bundle = await ReplayBundle.OpenAsync(fixture.Bundle, Ct);
        var offset = (int)bundle.Manifest.Checkpoints.Single(c => c.Name == RecordedSession.Checkpoint).TranscriptOffset;
        var saved = _temp.File("from-checkpoint.txt");

        var result = await ReplayAsync(null, fixture.Bundle, "--from", RecordedSession.Checkpoint, "--save-transcript", saved);

        result.ExitCode.Should().Be(0, result.ToString());
        Lines(result.Stdout).Should().Contain($"replay: transcript saved to {saved} ({recorded.Length - offset} bytes)");
        (await File.ReadAllBytesAsync(saved, Ct)).Should().Equal(recorded[offset..]);
    }

    [Fact]
    public async Task A_diverged_replay_saves_what_the_replay_printed_not_the_recording()
    {
        var copy = fixture.CopyOfBundle();
        var transcript = Path.Combine(copy, "console.log");
        var original = await File.ReadAllBytesAsync(transcript, Ct);
        var edited = original.ToArray();
        var at = edited.Length / 2;
        edited[at] ^= 0x20;
        await File.WriteAllBytesAsync(transcript, edited, Ct);
        var saved = _temp.File("diverged.txt");

        var result = await ReplayAsync(null, copy, "--no-verify", "--json", "--save-transcript", saved);

        result.ExitCode.Should().Be(1, result.ToString());
        var json = JsonNode.Parse(result.Stdout)!.AsObject();
        json["identical"]!.GetValue<bool>().Should().BeFalse();
        json["divergedAt"]!.GetValue<long>().Should().Be(at);
        json["verdict"]!.GetValue<string>().Should().Be($"replay: diverged at byte {at}");
        var replayed = await File.ReadAllBytesAsync(saved, Ct);
        replayed.Length.Should().BeGreaterThan(at);
        replayed[..(at + 1)].Should().Equal(original[..(at + 1)], "the replay printed the real execution, whose byte differs from the edited recording");
    }

    [Fact]
    public async Task A_transcript_into_a_missing_directory_is_refused_before_replaying()
    {
        var target = _temp.File("no-such-dir/out.txt");

        var result = await ReplayAsync(null, fixture.Bundle, "--save-transcript", target);

        result.ShouldFailCleanly(1, TimeSpan.FromSeconds(30)).Should()
            .Be($"qemutestkit: error: --save-transcript {target}: directory '{_temp.File("no-such-dir")}' does not exist; create it first");
        result.Stdout.Should().BeEmpty("nothing was replayed");
    }

    [Fact]
    public async Task A_long_replay_says_how_far_it_has_got()
    {
        // The interval is shortened so that even a fast replay lasts several of them (QEMU's start alone takes longer).
        var result = await ReplayAsync(new Dictionary<string, string?> { ["QEMUTESTKIT_PROGRESS_INTERVAL"] = "0.1" }, fixture.Bundle);

        result.ExitCode.Should().Be(0, result.ToString());
        Lines(result.Stdout).Should().Contain(l =>
            System.Text.RegularExpressions.Regex.IsMatch(l, @"^replay: (\d+ of \d+ console bytes replayed|still starting QEMU) \(\d+ s\)$"), result.ToString());
    }
}
