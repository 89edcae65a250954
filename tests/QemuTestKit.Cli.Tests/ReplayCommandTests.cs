using System.Diagnostics;
using QemuTestKit.Cli.Tests.Support;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
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

    /// <summary>
    /// <c>bundle info</c> says what the state image's bytes are (issue 14): the start snapshot's and each checkpoint's
    /// machine state, with the sizes qemu-img reports, and the rest.
    /// </summary>
    [Fact]
    public async Task Bundle_info_lists_the_state_images_parts_with_the_sizes_qemu_img_reports()
    {
        var ct = TestContext.Current.CancellationToken;
        var result = await CliRunner.RunAsync(["bundle", "info", fixture.Bundle], fixture.CacheDir, Within, cancellationToken: ct);

        result.ExitCode.Should().Be(0, result.ToString());
        var line = result.Stdout.Split('\n').Single(l => l.StartsWith("state image: ", StringComparison.Ordinal));
        var parts = System.Text.RegularExpressions.Regex.Match(line,
            @"^state image: state\.qcow2\.pack, (?<packed>[0-9.]+) MiB \(packed; the image is (?<image>[0-9.]+) MiB\): start 'ready' (?<ready>[0-9.]+) MiB, checkpoint 'after-one' (?<checkpoint>[0-9.]+) MiB, the rest [0-9.]+ (KiB|MiB)$");
        parts.Success.Should().BeTrue(line);
        await using var bundle = await QemuTestKit.Machines.Bundles.ReplayBundle.OpenAsync(fixture.Bundle, ct);
        var image = (await bundle.StateImageAsync(ct))!;
        var snapshots = (await new QemuTestKit.Introspection.Images.QemuImg().InfoAsync(image, cancellationToken: ct)).Snapshots!;
        double Number(string group) => double.Parse(parts.Groups[group].Value, System.Globalization.CultureInfo.InvariantCulture);
        Number("image").Should().Be(Math.Round(new FileInfo(image).Length / 1048576.0, 1));
        Number("packed").Should().BeLessThan(Number("ready"), "the pack holds both snapshots' machine states in less than one of them takes unpacked");
        double MiB(string name) => Math.Round(snapshots.Single(s => s.Name == name).VmStateSize / 1048576.0, 1);
        double.Parse(parts.Groups["ready"].Value, System.Globalization.CultureInfo.InvariantCulture).Should().Be(MiB("ready"));
        double.Parse(parts.Groups["checkpoint"].Value, System.Globalization.CultureInfo.InvariantCulture).Should().Be(MiB("after-one"));
    }

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
        result.Stdout.Should().Contain($"replay: bundle {copy} is damaged (hash mismatch: console.log", "after --no-verify a divergence says what is damaged");
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
        await using (var state = new FileStream(Path.Combine(copy, "state.qcow2.pack"), FileMode.Open, FileAccess.ReadWrite))
        {
            state.Seek(state.Length / 2, SeekOrigin.Begin);
            state.WriteByte(0x5a);
        }

        var message = (await ReplayAsync(copy)).ShouldFailCleanly(1, Within);

        message.Should().Contain("state.qcow2.pack").And.Contain("damaged");
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

    private static string[] ModeArguments(string mode, Checkpoint checkpoint, string root) => mode switch
    {
        "plain" => [],
        "from-checkpoint" => ["--from", checkpoint.Name],
        "until" => ["--until", $"icount:{checkpoint.Icount}"],
        "gdb" => ["--gdb", Path.Combine(root, $"gdb-{Guid.NewGuid():N}.sock")],
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };

    /// <summary>
    /// A replay log cut short makes QEMU end early (a divergence), refuse to start (from a checkpoint), or wait for
    /// events that never come (with gdb it stands paused): without verification up front, the outcome must still blame
    /// the damaged log, not QEMU; an error stays one line, a divergence keeps its verdict.
    /// </summary>
    [Theory]
    [InlineData("plain", false)]
    [InlineData("until", false)]
    [InlineData("from-checkpoint", true)]
    [InlineData("gdb", true)]
    public async Task A_replay_log_cut_short_replayed_without_verification_is_blamed_not_qemu(string mode, bool error)
    {
        const int timeout = 15;
        var copy = fixture.CopyOfBundle();
        Checkpoint checkpoint;
        await using (var bundle = await ReplayBundle.OpenAsync(copy, TestContext.Current.CancellationToken))
        {
            checkpoint = bundle.Manifest.Checkpoints.Single(c => c.Name == RecordedSession.Checkpoint);
        }

        using (var log = new FileStream(Path.Combine(copy, "replay.bin"), FileMode.Open, FileAccess.ReadWrite))
        {
            log.SetLength(log.Length / 8);
        }

        var result = await ReplayAsync([copy, "--no-verify", "--timeout", $"{timeout}", .. ModeArguments(mode, checkpoint, fixture.Root)]);

        var blame = $"bundle {copy} is damaged (size mismatch: replay.bin (replay-log)";
        if (error)
        {
            result.ShouldFailCleanly(1, Within).Should().Contain(blame).And.Contain("rather than QEMU");
        }
        else
        {
            result.ExitCode.Should().Be(1, result.ToString());
            LastLine(result).Should().StartWith("replay: diverged at byte ");
            result.Stdout.Should().Contain(blame).And.Contain("rather than QEMU");
        }
    }

    /// <summary>
    /// QEMU stopped dead (SIGSTOP: it answers neither the console nor QMP, as a stuck replay can) must not hold the
    /// replay past its timeout, counted from the start in every mode, gdb included; and the stopped QEMU is killed.
    /// </summary>
    [Theory]
    [InlineData("plain")]
    [InlineData("from-checkpoint")]
    [InlineData("until")]
    [InlineData("gdb")]
    public async Task A_replay_whose_qemu_stops_ends_within_its_timeout_and_leaves_no_qemu(string mode)
    {
        const int timeout = 20;
        Checkpoint checkpoint;
        await using (var bundle = await ReplayBundle.OpenAsync(fixture.Bundle, TestContext.Current.CancellationToken))
        {
            checkpoint = bundle.Manifest.Checkpoints.Single(c => c.Name == RecordedSession.Checkpoint);
        }

        var runRoot = Path.Combine(fixture.Root, $"runs-{Guid.NewGuid():N}");
        var stopped = 0;
        var result = await CliRunner.RunAsync(
            ["replay", fixture.Bundle, "--timeout", $"{timeout}", .. ModeArguments(mode, checkpoint, fixture.Root)],
            fixture.CacheDir, Within, new Dictionary<string, string?> { ["QEMUTESTKIT_RUN_ROOT"] = runRoot },
            async (_, ct) => stopped = await StopQemuAsync(runRoot, ct),
            TestContext.Current.CancellationToken);

        stopped.Should().BePositive("the test must have found QEMU's pid file to stop it");
        var message = result.ShouldFailCleanly(1, Within);
        result.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(timeout + 30), $"the timeout counts from the start, whatever the mode\n{result}");
        message.Should().Contain($"made no end within {timeout} s").And.Contain("--timeout");
        IsGone(stopped).Should().BeTrue($"QEMU (pid {stopped}) must not outlive the replay that started it\n{result}");
    }

    /// <summary>Waits for the replay's QEMU to write its pid, then stops it; returns the pid.</summary>
    private static async Task<int> StopQemuAsync(string runRoot, CancellationToken ct)
    {
        while (true)
        {
            var pidFile = Directory.Exists(runRoot)
                ? Directory.EnumerateFiles(runRoot, RunDirectory.PidFileName, SearchOption.AllDirectories).FirstOrDefault()
                : null;
            if (pidFile is not null && int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
            {
                // At once: the pid is written as QEMU starts, and a replay from the last checkpoint can end (its
                // recorded shutdown) within half a second of that, which a delay here once let it do.
                using var qemu = Process.GetProcessById(pid);
                await CliRunner.SignalAsync(qemu, "STOP", ct);
                return pid;
            }

            await Task.Delay(20, ct);
        }
    }

    private static bool IsGone(int pid)
    {
        var stat = $"/proc/{pid}/stat";
        try
        {
            // A zombie waits only for its reaper (this container's init may not reap): it runs no more.
            var text = File.ReadAllText(stat);
            return text[(text.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}
