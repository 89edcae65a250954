using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Recording;

/// <summary>
/// A recording that QEMU 7.2 can run backwards (see <see cref="ReverseDebugging"/>), made the default way: the test
/// guest started in record mode from a ready state prepared for recording (its ready snapshot is at ~6.3e9
/// instructions, past the 2^31 that broke reverse steps before), with a checkpoint once its shell answers and a
/// command after it. Nothing special is asked for: recorded x86 machines go without kvmvapic by default.
/// </summary>
public sealed class ReverseDebuggableSessionFixture : IAsyncLifetime
{
    public const string CheckpointName = "before-debug";

    public string Root { get; } = Directory.CreateTempSubdirectory("qtk-gdb-").FullName;

    public string BundlePath { get; private set; } = null!;

    public Checkpoint Checkpoint { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var catalog = await new CatalogCache(Path.Combine(Root, "cache")).GetAsync(TestQemu.X86, ct);
        var spec = GuestSpecs.Hello("gdb-guest");
        var options = new MachineStartOptions { Catalog = catalog };
        var ready = await ReadyState.PrepareAsync(spec, Path.Combine(Root, "state"), options with { IcountShift = 5 }, ct);
        await using var machine = await ready.StartAsync(spec, options with { Mode = RunMode.Record }, ct);
        // Short lines, no shell session: each fits the UART's 16-byte FIFO, which recorded serial input can overrun
        // under load (seen here: a cold boot's first synced command lost 16 bytes and left the shell in a quote).
        await machine.SendLineAsync("echo $((6*7))", ct);
        await machine.WaitForAsync(new Regex(@"^42\r?$", RegexOptions.Multiline), TimeSpan.FromSeconds(120), ct);
        Checkpoint = await machine.CheckpointAsync(CheckpointName, ct);
        await machine.SendLineAsync("uptime", ct);
        await machine.WaitForAsync(new Regex("load average"), TimeSpan.FromSeconds(120), ct);
        BundlePath = await machine.KeepAsBundleAsync(Path.Combine(Root, "gdb-session"), new BundleTest(nameof(ReverseDebuggableSessionFixture)), ct);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return ValueTask.CompletedTask;
    }
}

public sealed partial class GdbReplayTests(ReverseDebuggableSessionFixture session) : IClassFixture<ReverseDebuggableSessionFixture>
{
    private static readonly TimeSpan GdbTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The issue's test, after QEMU's tests/avocado/reverse_debugging.py: a real gdb attached in batch mode to a replay
    /// paused at a checkpoint steps forward, steps back, and finds the previous program counter and instruction count;
    /// stepping forward again reaches the same place; after gdb detaches the replay runs to its end identically.
    /// </summary>
    [Fact]
    public Task Reverse_stepi_under_a_real_gdb_returns_to_the_previous_program_counter()
        => ReverseStepAsync(new ReplayOptions { FromCheckpoint = ReverseDebuggableSessionFixture.CheckpointName }, ReverseDebuggableSessionFixture.CheckpointName);

    /// <summary>
    /// The same from the recording's start (the ready snapshot) with <c>--until</c>: the replay runs to the chosen
    /// instruction count, stops exactly there, waits for gdb, and gdb steps back across instructions QEMU replays from
    /// the ready snapshot.
    /// </summary>
    [Fact]
    public Task Reverse_stepi_works_after_a_replay_from_the_ready_snapshot_stopped_at_an_icount()
        => ReverseStepAsync(new ReplayOptions { Until = ReplayUntil.AtIcount(session.Checkpoint.Icount) }, "ready", session.Checkpoint.Icount);

    private async Task ReverseStepAsync(ReplayOptions options, string from, long? until = null)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(session.BundlePath, ct);
        var progress = new ConcurrentQueue<string>();
        var attach = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(ct);
        guard.CancelAfter(TimeSpan.FromMinutes(4));
        var replay = Replayer.ReplayAsync(bundle, options with
        {
            Gdb = new GdbStub(),
            Progress = line =>
            {
                progress.Enqueue(line);
                if (AttachLine().Match(line) is { Success: true } m)
                {
                    attach.TrySetResult(m.Groups["command"].Value);
                }
            },
        }, guard.Token);

        try
        {
            var command = await AttachCommandAsync(attach, replay, ct);
            command.Should().StartWith("gdb -ex 'set remotetimeout 60' -ex 'target remote ").And.EndWith("/gdb.sock'");
            var stopwatch = Stopwatch.StartNew();
            // The printed command itself, run by a shell, with the test's steps appended.
            var gdb = await RunGdbAsync(command,
                [.. Where(), "stepi", .. Where(), "stepi", .. Where(), "stepi", .. Where(), "stepi", .. Where(),
                 "reverse-stepi", .. Where(), "stepi", .. Where(), "detach"], ct);
            var elapsed = stopwatch.Elapsed;
            var states = States(gdb.Output);
            TestContext.Current.TestOutputHelper?.WriteLine($"gdb session: {elapsed.TotalSeconds:0.0} s\n{gdb.Output}");

            gdb.ExitCode.Should().Be(0, gdb.Output);
            states.Should().HaveCount(7, gdb.Output);
            if (until is { } icount)
            {
                states[0].Icount.Should().Be(icount, "gdb attaches where the replay stopped\n" + gdb.Output);
                progress.Should().Contain(l => l.StartsWith($"replay stopped at icount {icount} (", StringComparison.Ordinal));
            }

            var (beforeLast, last, back, again) = (states[3], states[4], states[5], states[6]);
            last.Icount.Should().Be(beforeLast.Icount + 1, "the stepped instructions run inside an interrupt handler, one instruction per stepi\n" + gdb.Output);
            last.Pc.Should().NotBe(beforeLast.Pc, gdb.Output);
            back.Should().Be(beforeLast, "reverse-stepi goes back one instruction: the previous program counter and icount\n" + gdb.Output);
            again.Should().Be(last, "stepping forward again replays the same instruction\n" + gdb.Output);
            progress.Should().NotContain(l => l.StartsWith("reverse execution", StringComparison.Ordinal), "this recording is one QEMU can run backwards");

            var result = await replay.WaitAsync(TimeSpan.FromMinutes(2), ct);
            result.Identical.Should().BeTrue($"after gdb detached the replay ran to its end: {result.Verdict}; recorded '{result.Recorded}', replayed '{result.Replayed}'");
            result.From.Should().Be(from);
        }
        finally
        {
            await StopAsync(guard, replay);
        }
    }

    private static string[] Where() => ["p/x $pc", "monitor info replay"];

    private static async Task<string> AttachCommandAsync(TaskCompletionSource<string> attach, Task<ReplayResult> replay, CancellationToken ct)
    {
        var first = await Task.WhenAny(attach.Task, replay).WaitAsync(TimeSpan.FromSeconds(90), ct);
        if (first == replay)
        {
            await replay; // throws what stopped the replay before it was paused for gdb
            throw new InvalidOperationException("the replay ended before it reported the gdb attach command");
        }

        return await attach.Task;
    }

    /// <summary>Cancels the replay if it still runs and waits for it: Replayer kills QEMU on cancellation.</summary>
    internal static async Task StopAsync(CancellationTokenSource guard, Task<ReplayResult> replay)
    {
        await guard.CancelAsync();
        try
        {
            await replay.WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
        }
        catch (Exception e) when (e is OperationCanceledException or ReplayException)
        {
        }
    }

    private sealed record GdbRun(int ExitCode, string Output);

    private readonly record struct State(ulong Pc, long Icount);

    /// <summary>Runs the attach command in a shell, in batch mode, with the given commands after it; killed on timeout.</summary>
    private static async Task<GdbRun> RunGdbAsync(string attachCommand, IReadOnlyList<string> commands, CancellationToken ct)
    {
        var script = attachCommand + " -nx --batch -ex 'set pagination off' -ex 'set confirm off'"
            + string.Concat(commands.Select(c => $" -ex '{c}'")) + " 2>&1";
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start gdb");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(ct).WaitAsync(GdbTimeout, ct);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw new TimeoutException($"gdb did not finish within {GdbTimeout.TotalSeconds:0} s; its output:\n{await output}", e);
        }

        return new GdbRun(process.ExitCode, await output);
    }

    /// <summary>The (pc, icount) pairs of the output: each <c>p/x $pc</c> is followed by <c>monitor info replay</c>.</summary>
    private static List<State> States(string output)
    {
        var pcs = PcLine().Matches(output).Select(m => ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToList();
        var icounts = IcountLine().Matches(output).Select(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToList();
        icounts.Should().HaveSameCount(pcs, output);
        return [.. pcs.Zip(icounts, (pc, icount) => new State(pc, icount))];
    }

    [GeneratedRegex("attach with: (?<command>.+)$")]
    private static partial Regex AttachLine();

    [GeneratedRegex(@"^\$\d+ = 0x([0-9a-f]+)$", RegexOptions.Multiline)]
    private static partial Regex PcLine();

    [GeneratedRegex(@"instruction count = (\d+)")]
    private static partial Regex IcountLine();
}

/// <summary>The rules of <see cref="ReverseDebugging"/>, without QEMU.</summary>
public sealed class ReverseDebuggingRulesTests
{
    [Fact]
    public void A_cold_boot_recording_without_kvmvapic_can_run_backwards()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, null, true, 6_286_524_392, true)).Should().BeEmpty();

    [Fact]
    public void A_recording_from_a_snapshot_saved_in_record_mode_can_run_backwards()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", true, 6_286_524_392, true)).Should().BeEmpty();

    [Fact]
    public void A_recording_from_a_snapshot_saved_outside_recording_early_in_the_run_can_run_backwards()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", false, (1L << 31) - 1, true)).Should().BeEmpty();

    [Fact]
    public void A_recording_from_a_snapshot_saved_outside_recording_late_in_the_run_cannot()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", false, 6_286_334_365, true)).Should().ContainSingle()
            .Which.Should().Contain("snapshot 'ready'").And.Contain("instruction count 6286334365 (2^31 or more)").And.Contain("2^32");

    [Fact]
    public void From_a_checkpoint_the_start_icount_is_only_bounded()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(false, "ready", false, 6_299_473_059, false)).Should().ContainSingle()
            .Which.Should().Contain("instruction count up to 6299473059");

    [Fact]
    public void A_machine_with_kvmvapic_cannot()
        => ReverseDebugging.Problems(new ReverseDebuggingFacts(true, null, true, 0, true)).Should().ContainSingle()
            .Which.Should().Contain("kvmvapic").And.Contain("-global apic-common.vapic=off");


    [Fact]
    public void The_attach_command_raises_the_packet_timeout_and_quotes_the_endpoint_for_a_shell()
    {
        ReverseDebugging.AttachCommand("127.0.0.1:1234").Should().Be("gdb -ex 'set remotetimeout 60' -ex 'target remote 127.0.0.1:1234'");
        ReverseDebugging.AttachCommand("/tmp/it's/gdb.sock").Should().Be("gdb -ex 'set remotetimeout 60' -ex 'target remote /tmp/it'\\''s/gdb.sock'");
    }
}
