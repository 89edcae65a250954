using QemuTestKit.Cli.Tests.Support;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>One recorded run of the test guest, kept as a bundle, for the replay command's tests.</summary>
public sealed class RecordedBundleFixture : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("qtk-cli-replay-").FullName;

    public string CacheDir => Path.Combine(Root, "cache");

    public string Bundle { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var spec = GuestSpecs.Hello("cli-replay");
        var catalog = await new CatalogCache(CacheDir).GetAsync("qemu-system-x86_64", ct);
        var options = new MachineStartOptions { Catalog = catalog };
        var ready = await ReadyState.PrepareAsync(spec, Path.Combine(Root, "state"), options with { IcountShift = 5 }, ct);
        await using var machine = await ready.StartAsync(spec, options with { Mode = RunMode.Record }, ct);
        Bundle = await RecordedSession.RecordAsync(machine, Path.Combine(Root, "run"), "cli replay fixture", ct);
    }

    /// <summary>A private copy of the bundle to damage.</summary>
    public string CopyOfBundle()
    {
        var copy = Path.Combine(Root, $"copy-{Guid.NewGuid():N}.qtkreplay");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.EnumerateFiles(Bundle, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(Bundle, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return copy;
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return ValueTask.CompletedTask;
    }
}

public sealed class ReplayCommandTests(RecordedBundleFixture fixture) : IClassFixture<RecordedBundleFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(120);

    private Task<CliResult> ReplayAsync(params string[] args) =>
        CliRunner.RunAsync(["replay", .. args], fixture.CacheDir, Within, cancellationToken: TestContext.Current.CancellationToken);

    private static string LastLine(CliResult result) =>
        result.Stdout.Replace("\r", string.Empty, StringComparison.Ordinal).TrimEnd('\n').Split('\n')[^1];

    [Fact]
    public async Task A_bundle_replays_identically_from_its_start()
    {
        var length = new FileInfo(Path.Combine(fixture.Bundle, "console.log")).Length;

        var result = await ReplayAsync(fixture.Bundle);

        result.ExitCode.Should().Be(0, result.ToString());
        LastLine(result).Should().Be($"replay: identical ({length} bytes from ready)");
    }

    [Fact]
    public async Task A_bundle_replays_identically_from_a_checkpoint()
    {
        var result = await ReplayAsync(fixture.Bundle, "--from", "after-one");

        result.ExitCode.Should().Be(0, result.ToString());
        LastLine(result).Should().MatchRegex(@"^replay: identical \(\d+ bytes from after-one\)$");
    }

    [Fact]
    public async Task Until_an_icount_stops_there_and_verifies_the_console_up_to_it()
    {
        await using var bundle = await ReplayBundle.OpenAsync(fixture.Bundle, TestContext.Current.CancellationToken);
        var checkpoint = bundle.Manifest.Checkpoints.Single(c => c.Name == "after-one");

        var result = await ReplayAsync(fixture.Bundle, "--until", $"icount:{checkpoint.Icount}");

        result.ExitCode.Should().Be(0, result.ToString());
        LastLine(result).Should().Be($"replay: identical ({checkpoint.TranscriptOffset} bytes from ready, stopped at icount {checkpoint.Icount})");
    }

    [Fact]
    public async Task Until_a_transcript_offset_stops_once_that_byte_is_out()
    {
        var transcript = await File.ReadAllTextAsync(Path.Combine(fixture.Bundle, "console.log"), TestContext.Current.CancellationToken);
        var offset = transcript.IndexOf("second-", StringComparison.Ordinal);
        offset.Should().BeGreaterThan(0);

        var result = await ReplayAsync(fixture.Bundle, "--from", "after-one", "--until", $"offset:{offset}");

        result.ExitCode.Should().Be(0, result.ToString());
        LastLine(result).Should().MatchRegex(@"^replay: identical \(\d+ bytes from after-one, stopped at icount \d+\)$");
    }

    [Fact]
    public async Task Until_something_unreadable_is_a_clear_error()
    {
        var message = (await ReplayAsync(fixture.Bundle, "--until", "line:3")).ShouldFailCleanly(1, Within);

        message.Should().Contain("--until").And.Contain("offset:N");
    }

    [Fact]
    public async Task A_modified_transcript_byte_is_a_divergence_at_that_byte()
    {
        var copy = fixture.CopyOfBundle();
        var transcript = Path.Combine(copy, "console.log");
        var bytes = await File.ReadAllBytesAsync(transcript, TestContext.Current.CancellationToken);
        var at = bytes.Length / 2;
        bytes[at] ^= 0x20;
        await File.WriteAllBytesAsync(transcript, bytes, TestContext.Current.CancellationToken);

        var damaged = await ReplayAsync(copy);
        damaged.ShouldFailCleanly(1, Within).Should().Contain("damaged").And.Contain("console.log");

        var result = await ReplayAsync(copy, "--no-verify");
        result.ExitCode.Should().Be(1, result.ToString());
        LastLine(result).Should().Be($"replay: diverged at byte {at}");
    }

    [Fact]
    public async Task A_bundle_without_its_replay_log_is_a_clear_error()
    {
        var copy = fixture.CopyOfBundle();
        File.Delete(Path.Combine(copy, "replay.bin"));

        var message = (await ReplayAsync(copy)).ShouldFailCleanly(1, Within);

        message.Should().Contain("replay.bin");
    }

    [Fact]
    public async Task An_edited_snapshot_image_is_a_clear_error()
    {
        var copy = fixture.CopyOfBundle();
        await using (var state = new FileStream(Path.Combine(copy, "state.qcow2"), FileMode.Open, FileAccess.ReadWrite))
        {
            state.Seek(state.Length / 2, SeekOrigin.Begin);
            state.WriteByte(0x5a);
        }

        var message = (await ReplayAsync(copy)).ShouldFailCleanly(1, Within);

        message.Should().Contain("state.qcow2").And.Contain("damaged");
    }

    [Fact]
    public async Task A_different_qemu_build_is_refused_naming_both()
    {
        var wrapper = Path.Combine(fixture.Root, "other-qemu");
        await File.WriteAllTextAsync(wrapper, "#!/bin/sh\nexec qemu-system-x86_64 \"$@\"\n", TestContext.Current.CancellationToken);
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var message = (await ReplayAsync(fixture.Bundle, "--qemu", wrapper)).ShouldFailCleanly(1, Within);

        message.Should().Contain("recorded with QEMU").And.Contain(wrapper).And.Contain("different build");
    }

    [Fact]
    public async Task An_unknown_checkpoint_lists_the_ones_there_are()
    {
        var message = (await ReplayAsync(fixture.Bundle, "--from", "nonesuch")).ShouldFailCleanly(1, Within);

        message.Should().Contain("nonesuch").And.Contain("after-one");
    }
}
