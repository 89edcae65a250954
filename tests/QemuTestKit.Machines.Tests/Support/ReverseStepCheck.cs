using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Replay;

namespace QemuTestKit.Machines.Tests.Support;

/// <summary>
/// A real gdb (or gdb-multiarch) attached in batch mode to a replay paused for it: steps forward, steps back, and checks
/// the program counters and instruction counts; after it detaches, the replay runs to its end identically.
/// </summary>
internal static partial class ReverseStepCheck
{
    private static readonly TimeSpan GdbTimeout = TimeSpan.FromMinutes(2);

    /// <param name="debugger">The debugger the replay must print in its attach command (ReverseDebugging.Debugger).</param>
    /// <param name="endpoint">What the attach command's endpoint must match: a Unix socket in the run directory, or a port of 127.0.0.1 for a container.</param>
    /// <param name="runsToEndAfterDetach">
    /// Whether the replay must then run to its end identically. False for a QEMU that can stall once a replay has stood
    /// paused (QEMU 10.0: 2 of 8 paused replays stalled, docs/cli.md "The 7.2 workarounds on QEMU 10.0"), so that the
    /// check is about the steps, which are this product's, not about that stall; the replay must still be alive.
    /// </param>
    public static async Task RunAsync(string bundlePath, string debugger, ReplayOptions options, string from, long? until = null, string endpoint = "/gdb.sock'$",
        bool runsToEndAfterDetach = true)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var bundle = await ReplayBundle.OpenAsync(bundlePath, ct);
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
            command.Should().StartWith($"{debugger} -ex 'set remotetimeout 60' -ex 'target remote ").And.MatchRegex(endpoint);
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

            if (!runsToEndAfterDetach)
            {
                replay.IsFaulted.Should().BeFalse("the replay outlives the gdb session: " + replay.Exception?.GetBaseException().Message);
                return;
            }

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
