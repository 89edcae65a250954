using System.Diagnostics;
using System.Globalization;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Processes;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>snapshot-start</c>: time to a guest's first answer, four ways, alternating: (a) a cold boot through the runtime
/// to the first <c>ExecAsync</c> answer, (b) a start from the ready state through the runtime to the first answer
/// (RAM in a memory file, the default), (c) the same from a ready state that keeps its RAM in the snapshot
/// (<see cref="MachineStartOptions.SeparateMemoryFile"/> false), (d) raw QEMU with <c>-loadvm ready</c> of that state
/// to its first echoed line (a private copy of the state image, QEMU on stdio, no runtime): what a hand-written script
/// does; and (e) = (b) without setting the guest's clock (<see cref="MachineStartOptions.SetGuestClock"/>), which shows
/// what the one guest process that sets it costs. Goals: (b) at least 25x faster than (a), and at most 1.2x (d).
/// Last line: <c>snapshot-start: &lt;x&gt;x faster than cold boot, &lt;y&gt;x raw loadvm</c>.
/// With <c>--arch aarch64|riscv64</c> it compares that architecture's test guest with x86_64's instead
/// (<see cref="SnapshotStartAcrossArchitectures"/>).
/// </summary>
internal sealed class SnapshotStartBenchmark : IBenchmark
{
    public string Name => "snapshot-start";

    public string Description => "cold boot vs. start from the ready state (RAM in a memory file, and in the snapshot) vs. raw QEMU -loadvm, to the first answer (goal: >= 25x faster than cold, <= 1.2x raw); options --guest GUEST_JSON|distro, --timeout S (every wait, default 300), --arch aarch64|riscv64 (that architecture side by side with x86_64, with a recorded start)";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, SnapshotStartAcrossArchitectures.ArchOption, TimeoutOption], flagOptions: ["--quiet"]);
        var timeout = Timeout(options);
        var architecture = options.Value(SnapshotStartAcrossArchitectures.ArchOption, MachineSpec.DefaultArchitecture);
        if (architecture != MachineSpec.DefaultArchitecture)
        {
            return await new SnapshotStartAcrossArchitectures(Name, options, architecture, timeout).RunAsync(cancellationToken).ConfigureAwait(false);
        }

        void Say(string text) => BenchOutput.Line(Name, text);
        var root = Directory.CreateTempSubdirectory("qtk-bench-snapshot-").FullName;
        return await BenchOutput.GuardAsync(Name, root, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: null, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            var (spec, catalog, start, ready) = guest;
            // The raw baseline and (c): a state as plain QEMU saves it, RAM inside the snapshot (one more cold boot).
            var classic = await ReadyState.PrepareAsync(spec, Path.Combine(root, "state-snapshot-ram"), start with { SeparateMemoryFile = false }, cancellationToken)
                .ConfigureAwait(false);
            Say($"{options.Runs} runs per variant, alternating");

            // A guest with disks or NICs: the raw baseline is the argument array of a start from ready, run by hand.
            var rawLine = spec.Disks.Count == 0 && spec.Nics.Count == 0 ? null : await RawLine.CaptureAsync(classic, spec, start, cancellationToken).ConfigureAwait(false);
            var samples = new Dictionary<string, List<TimeSpan>>(StringComparer.Ordinal) { ["cold boot"] = [], ["from ready"] = [], ["ready, RAM in snapshot"] = [], ["raw loadvm"] = [],
                ["ready, no clock set"] = [] };
            for (var run = 0; run < options.Runs; run++)
            {
                await TimeAsync("cold boot", samples, () => StartColdAsync(spec, start, timeout, cancellationToken), Say, options).ConfigureAwait(false);
                await TimeAsync("from ready", samples, () => StartFromReadyAsync(ready, spec, start, timeout, cancellationToken), Say, options).ConfigureAwait(false);
                await TimeAsync("ready, RAM in snapshot", samples, () => StartFromReadyAsync(classic, spec, start, timeout, cancellationToken), Say, options).ConfigureAwait(false);
                await TimeAsync("raw loadvm", samples, () => rawLine is null
                    ? StartRawAsync(catalog, spec, classic, root, timeout, cancellationToken)
                    : rawLine.StartAsync(catalog.Binary, classic, root, timeout, cancellationToken), Say, options).ConfigureAwait(false);
                await TimeAsync("ready, no clock set", samples, () => StartFromReadyAsync(ready, spec, start with { SetGuestClock = false }, timeout, cancellationToken), Say, options)
                    .ConfigureAwait(false);
            }

            var stats = samples.Select(s => new Stats(s.Key, s.Value)).ToArray();
            BenchOutput.Table(Name, stats);
            var cold = stats[0].Median;
            var fromReady = stats[1].Median;
            var raw = stats[3].Median;
            var faster = cold / fromReady;
            var ofRaw = fromReady / raw;
            Say($"  goal >= 25x faster than cold boot: {(faster >= 25 ? "ok" : "MISSED")}; goal <= 1.2x raw loadvm: {(ofRaw <= 1.2 ? "ok" : "MISSED")}");
            Say(string.Create(CultureInfo.InvariantCulture, $"{faster:0.0}x faster than cold boot, {ofRaw:0.00}x raw loadvm"));
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>The value option that bounds every wait (boot, answer), in seconds.</summary>
    public const string TimeoutOption = "--timeout";

    private static TimeSpan Timeout(BenchOptions options)
    {
        var text = options.Value(TimeoutOption, "300");
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : throw new BenchUsageException($"{TimeoutOption} needs a whole number of seconds > 0, not '{text}'");
    }

    /// <summary>Times <paramref name="start"/> (start to first answer); the clean-up it returns runs off the clock.</summary>
    internal static async Task TimeAsync(string name, Dictionary<string, List<TimeSpan>> samples, Func<Task<IAsyncDisposable>> start,
        Action<string> say, BenchOptions options)
    {
        GC.Collect();
        var stopwatch = Stopwatch.StartNew();
        var running = await start().ConfigureAwait(false);
        var elapsed = stopwatch.Elapsed;
        await running.DisposeAsync().ConfigureAwait(false);
        samples[name].Add(elapsed);
        if (!options.Flag("--quiet"))
        {
            say($"  {name}: {BenchOutput.Duration(elapsed)}");
        }
    }

    /// <summary>A cold boot to the ready line and the first answer; the boot waits at most the spec's ready timeout.</summary>
    internal static async Task<IAsyncDisposable> StartColdAsync(MachineSpec spec, MachineStartOptions start, TimeSpan timeout, CancellationToken ct)
    {
        var machine = await QemuMachine.StartAsync(spec with { Ready = spec.Ready with { TimeoutSeconds = (int)timeout.TotalSeconds } }, start, ct)
            .ConfigureAwait(false);
        await machine.WaitUntilReadyAsync(ct).ConfigureAwait(false);
        await AnswerAsync(machine, timeout, ct).ConfigureAwait(false);
        return machine;
    }

    /// <summary>A start from <paramref name="ready"/> (in <paramref name="start"/>'s mode) to the first answer.</summary>
    internal static async Task<IAsyncDisposable> StartFromReadyAsync(ReadyState ready, MachineSpec spec, MachineStartOptions start, TimeSpan timeout,
        CancellationToken ct)
    {
        var machine = await ready.StartAsync(spec, start, ct).ConfigureAwait(false);
        await AnswerAsync(machine, timeout, ct).ConfigureAwait(false);
        return machine;
    }

    private static async Task AnswerAsync(QemuMachine machine, TimeSpan timeout, CancellationToken ct)
    {
        var result = await machine.ExecAsync("echo $((6*7))", timeout, ct).ConfigureAwait(false);
        if (result.Output.Trim() != "42")
        {
            throw new InvalidOperationException($"unexpected answer '{result.Output}'");
        }
    }

    /// <summary>
    /// What a hand-written script must do for a private, parallel-safe instance: copy the state image, start QEMU with
    /// <c>-loadvm ready</c> and the serial port on stdio, type a command, and read its answer.
    /// </summary>
    private static async Task<IAsyncDisposable> StartRawAsync(QemuCatalog catalog, MachineSpec spec, ReadyState ready, string root, TimeSpan limit,
        CancellationToken ct)
    {
        var copy = Path.Combine(root, $"raw-{Guid.NewGuid():N}.qcow2");
        File.Copy(ready.StateImage, copy);
        string[] arguments =
        [
            "-name", $"guest={spec.Name}", "-machine", $"type={spec.MachineType}", "-accel", "tcg", "-cpu", spec.Cpu ?? "max",
            "-m", $"{spec.MemoryMiB}M", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-serial", "stdio", "-kernel", spec.Kernel!, "-initrd", spec.Initrd!, "-append", spec.Append!,
            "-drive", $"if=none,id=qtk-state,node-name=qtk-state-fmt,format=qcow2,file={copy.Replace(",", ",,", StringComparison.Ordinal)}",
            "-loadvm", ReadyState.SnapshotName,
        ];
        return await RunRawAsync(catalog.Binary, arguments, limit, () => File.Delete(copy), ct).ConfigureAwait(false);
    }

    /// <summary>Starts QEMU with its serial port on stdio, types a command, and reads its answer.</summary>
    internal static async Task<IAsyncDisposable> RunRawAsync(string binary, IReadOnlyList<string> arguments, TimeSpan limit, Action cleanUp,
        CancellationToken ct)
    {
        var psi = new ProcessStartInfo(binary) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        var process = Process.Start(psi)!;
        var raw = new RawQemu(process, cleanUp);
        await process.StandardInput.WriteAsync("echo $((6*7))\n").ConfigureAwait(false);
        await process.StandardInput.FlushAsync(ct).ConfigureAwait(false);
        var buffer = new char[4096];
        var seen = string.Empty;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(limit);
        while (!seen.Contains("\n42", StringComparison.Ordinal))
        {
            var read = await process.StandardOutput.ReadAsync(buffer, timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                await raw.DisposeAsync().ConfigureAwait(false);
                throw new InvalidOperationException($"raw QEMU exited: {await process.StandardError.ReadToEndAsync(ct).ConfigureAwait(false)}");
            }

            seen += new string(buffer, 0, read).Replace("\r", string.Empty, StringComparison.Ordinal);
        }

        return raw;
    }

    private sealed class RawQemu(Process process, Action cleanUp) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            process.Kill();
            await process.WaitForExitAsync().ConfigureAwait(false);
            process.Dispose();
            cleanUp();
        }
    }
}
