using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Qmp;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Console;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>record-overhead</c>: the same scripted test, recorded (<c>rr=record</c>) and not recorded, alternating. The test
/// starts an instance of the test guest from its ready snapshot, runs a few commands that make the guest work (a shell
/// loop, <c>seq | md5sum</c>, /dev/urandom through md5sum, a sort, gzip of a binary), checks their output, and shuts the
/// machine down. Every run counts instructions (<c>-icount shift=5</c>) whether recorded or not, so the difference is
/// the cost of recording alone. The recorded runs start from a ready state prepared for recording (in record mode), the
/// others from a twin prepared in a normal run: QEMU 7.2 loads each kind only in its own kind of run. A recorded run ends the way a passing test's does: the machine is disposed and the
/// recording dropped (no bundle is written). Goal: recorded &lt;= 1.2x not recorded (medians).
/// Last line: <c>record-overhead: &lt;x&gt;x</c>.
/// </summary>
internal sealed class RecordOverheadBenchmark : IBenchmark
{
    private const double Goal = 1.2;
    private const string Recorded = "recorded";
    private const string NotRecorded = "not recorded";
    private const int MaxVoidedSamples = 5;

    /// <summary>Each command takes about a second; a command still unanswered after this long lost its input.</summary>
    internal static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The scripted test: each command with a check of its output (qemu-versions runs it too).</summary>
    internal static readonly (string Name, string Command, Regex Expected)[] Script =
    [
        ("shell loop", "i=0; s=0; while [ $i -lt 2000 ]; do s=$((s+i*i%7)); i=$((i+1)); done; echo $s", new Regex("^3999$")),
        ("seq | md5sum", "seq 1 2000 | md5sum", new Regex("^ea4d0a24dabcaa11f9aa979b872d162b  -$")),
        ("urandom | md5sum", "head -c 262144 /dev/urandom | md5sum", new Regex("^[0-9a-f]{32}  -$")),
        ("seq | sort", "seq 1 5000 | sort -rn | head -n 1", new Regex("^5000$")),
        ("gzip busybox", "gzip -c /bin/busybox | wc -c", new Regex(@"^\d{6,}$")),
    ];

    public string Name => "record-overhead";

    public string Description => "the same scripted test from the ready snapshot, recorded vs. not recorded (goal: <= 1.2x); options --guest GUEST_JSON, --shift N (icount shift of both variants; default the record default), --pace BYTES (override the record-mode input pacing; 0 = unpaced), --nudge (a QMP command every 25 ms in both variants, which wakes QEMU's main loop: a diagnostic for serial input that stalls under icount), --breakdown, --quiet";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, "--pace", "--shift"], flagOptions: ["--breakdown", "--nudge", "--quiet"], defaultRuns: 5);
        var nudge = options.Flag("--nudge");
        int? pace = null;
        if (options.Values.TryGetValue("--pace", out var paceText))
        {
            pace = int.TryParse(paceText, NumberStyles.None, CultureInfo.InvariantCulture, out var p)
                ? p
                : throw new BenchUsageException("--pace needs a whole number of bytes (0 = unpaced)");
        }

        var shift = CommandLineOptions.DefaultRecordIcountShift;
        if (options.Values.TryGetValue("--shift", out var shiftText)
            && !(int.TryParse(shiftText, NumberStyles.None, CultureInfo.InvariantCulture, out shift) && shift <= 10))
        {
            throw new BenchUsageException("--shift needs an icount shift from 0 to 10");
        }

        void Say(string text) => BenchOutput.Line(Name, text);
        Action<string>? progress = options.Flag("--quiet") ? null : text => Say("  " + text);
        var root = Directory.CreateTempSubdirectory("qtk-bench-record-").FullName;
        return await BenchOutput.GuardAsync(Name, root, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: shift, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            // QEMU 7.2 loads a ready state made for recording (in record mode) only in record runs: the variant that is not
            // recorded starts from a twin prepared in a normal run with the same icount shift.
            var normal = guest with
            {
                Ready = await ReadyState.PrepareAsync(guest.Spec, Path.Combine(root, "state-normal"),
                    guest.Start with { IcountShift = shift, PrepareForRecording = false }, cancellationToken).ConfigureAwait(false),
            };
            Say($"{options.Runs} runs per variant, alternating (+{options.Warmup} warmup); {Script.Length} commands per test" +
                (pace is { } shown ? $"; record-mode input pace overridden: {(shown == 0 ? "unpaced" : $"{shown} bytes")}" : string.Empty) +
                (nudge ? "; QMP nudge every 25 ms in both variants" : string.Empty));
            var phases = new Dictionary<string, Dictionary<string, List<TimeSpan>>>(StringComparer.Ordinal)
            {
                [Recorded] = new(StringComparer.Ordinal),
                [NotRecorded] = new(StringComparer.Ordinal),
            };
            // A session whose typed input the guest lost hangs until the command times out. That is a defect of the
            // runtime, not of the benchmark: such a sample is voided, counted and repeated, and the count reported.
            var hung = new Retry(e => e is ConsoleTimeoutException, e => e.Message.Split('\n')[0], MaxVoidedSamples);
            var stats = await Measure.AlternatingAsync(
                [
                    new Variant(Recorded, ct => RunTestAsync(guest, RunMode.Record, pace, nudge, phases[Recorded], ct)),
                    new Variant(NotRecorded, ct => RunTestAsync(normal, RunMode.Normal, null, nudge, phases[NotRecorded], ct)),
                ],
                options,
                cancellationToken,
                progress,
                hung).ConfigureAwait(false);

            BenchOutput.Table(Name, stats);
            string Hung(string variant)
            {
                var voided = hung.Counts.GetValueOrDefault(variant);
                return string.Create(CultureInfo.InvariantCulture, $"{variant} {voided} of {options.Warmup + options.Runs + voided}");
            }

            Say($"  sessions that hung on lost input (voided and repeated): {Hung(Recorded)}, {Hung(NotRecorded)}");
            if (options.Flag("--breakdown"))
            {
                PrintBreakdown(phases, Say);
            }

            var ratio = stats.Single(s => s.Name == Recorded).Median / stats.Single(s => s.Name == NotRecorded).Median;
            Say($"  goal <= {Goal.ToString("0.0", CultureInfo.InvariantCulture)}x: {(ratio <= Goal ? "ok" : "MISSED")}");
            Say(string.Create(CultureInfo.InvariantCulture, $"{ratio:0.00}x"));
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>One test: start from the ready snapshot, run the script, shut down (a recording is dropped).</summary>
    private static async Task RunTestAsync(PreparedGuest guest, RunMode mode, int? pace, bool nudge, Dictionary<string, List<TimeSpan>> phases,
        CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var measured = new List<(string Name, TimeSpan Elapsed)>();
        void Add(string name, TimeSpan elapsed) => measured.Add((name, elapsed));

        void Phase(string name)
        {
            Add(name, clock.Elapsed);
            clock.Restart();
        }

        var machine = await guest.Ready.StartAsync(guest.Spec, guest.Start with { Mode = mode }, ct).ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            if (pace is { } bytes)
            {
                foreach (var console in machine.Consoles)
                {
                    console.InputPaceBytes = bytes == 0 ? null : bytes;
                }
            }

            using var stopNudging = new CancellationTokenSource();
            var nudging = nudge ? NudgeAsync(machine, stopNudging.Token) : Task.CompletedTask;
            Phase("start");
            foreach (var (name, command, expected) in Script)
            {
                var result = await machine.ExecAsync(command, CommandTimeout, ct).ConfigureAwait(false);
                if (result.ExitCode != 0 || !expected.IsMatch(result.Output))
                {
                    throw new BenchFailedException($"{(mode == RunMode.Record ? Recorded : NotRecorded)} run: '{name}' gave exit code {result.ExitCode} and '{result.Output}', expected /{expected}/");
                }

                if (name == Script[0].Name)
                {
                    // The first command also synchronizes with the shell; its own run time is what the shell measured.
                    Add("shell sync", clock.Elapsed - result.Duration);
                    Add(name, result.Duration);
                    clock.Restart();
                }
                else
                {
                    Phase(name);
                }
            }

            await stopNudging.CancelAsync().ConfigureAwait(false);
            await nudging.ConfigureAwait(false);
        }

        Phase("shutdown");
        foreach (var (name, elapsed) in measured)
        {
            if (!phases.TryGetValue(name, out var list))
            {
                phases[name] = list = [];
            }

            list.Add(elapsed);
        }
    }

    /// <summary>
    /// Sends a QMP command every 25 ms until stopped. Each one wakes QEMU's main loop, which restarts the icount warp a
    /// halted vCPU may have missed; without that the UART's receive-timeout timer (virtual clock) can stall, leaving
    /// typed bytes below the FIFO trigger level unread.
    /// </summary>
    private static async Task NudgeAsync(QemuMachine machine, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await machine.Qmp.ExecuteAsync("query-status", cancellationToken: stop).ConfigureAwait(false);
                await Task.Delay(25, stop).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or QmpException)
        {
            // Stopped, or the machine went away: the test itself reports that.
        }
    }

    private static void PrintBreakdown(Dictionary<string, Dictionary<string, List<TimeSpan>>> phases, Action<string> say)
    {
        say("  breakdown (medians per phase, warmup included, voided sessions left out):");
        string[] names = ["start", "shell sync", .. Script.Select(s => s.Name), "shutdown"];
        var width = names.Max(n => n.Length);
        foreach (var name in names)
        {
            var recorded = new Stats(name, phases[Recorded][name]).Median;
            var normal = new Stats(name, phases[NotRecorded][name]).Median;
            say(string.Create(CultureInfo.InvariantCulture,
                $"    {name.PadRight(width)}  recorded {BenchOutput.Duration(recorded),9}  not recorded {BenchOutput.Duration(normal),9}  ({recorded / normal:0.00}x)"));
        }
    }
}
