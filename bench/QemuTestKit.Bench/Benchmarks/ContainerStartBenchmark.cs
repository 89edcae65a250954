using System.Diagnostics;
using System.Globalization;
using QemuTestKit.Containers;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>container-start</c>: time from "start" to the guest's first <c>ExecAsync</c> answer, from the same ready
/// snapshot, (a) as a local QEMU process and (b) in a container of the image (container creation, file copies, QMP and
/// consoles over published ports), alternating. Stopping (and removing the container) is off the clock. No goal yet.
/// Last line: <c>container-start: &lt;x&gt;x of local</c>.
/// </summary>
internal sealed class ContainerStartBenchmark : IBenchmark
{
    private const string ImageOption = "--image";

    public string Name => "container-start";

    public string Description => "start from the ready snapshot to the first answer, local QEMU vs. QEMU in a container (no goal yet); options --guest GUEST_JSON, --image IMAGE";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, ImageOption], flagOptions: ["--quiet"]);
        void Say(string text) => BenchOutput.Line(Name, text);
        var root = Directory.CreateTempSubdirectory("qtk-bench-container-").FullName;
        return await BenchOutput.GuardAsync(Name, root, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: null, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            var (spec, _, start, ready) = guest;
            var container = new ContainerImage(options.Value(ImageOption, QemuBuilder.DefaultImage));
            Say($"image {container.Name}; {options.Warmup} warmup + {options.Runs} runs per variant, alternating");

            Task<QemuMachine> Local() => ready.StartAsync(spec, start, cancellationToken);
            Task<QemuMachine> InContainer() => ready.StartAsync(spec, new MachineStartOptions { RunRoot = start.RunRoot, Launcher = new ContainerQemuLauncher(container) }, cancellationToken);
            var samples = new Dictionary<string, List<TimeSpan>>(StringComparer.Ordinal) { ["local"] = [], ["container"] = [] };
            for (var run = -options.Warmup; run < options.Runs; run++)
            {
                // The first round also pays for the image inspection and the start-up sweep: warm-up, off the books.
                await TimeAsync("local", run < 0 ? null : samples, Local, Say, options, cancellationToken).ConfigureAwait(false);
                await TimeAsync("container", run < 0 ? null : samples, InContainer, Say, options, cancellationToken).ConfigureAwait(false);
            }

            var stats = samples.Select(s => new Stats(s.Key, s.Value)).ToArray();
            BenchOutput.Table(Name, stats);
            Say(string.Create(CultureInfo.InvariantCulture, $"{stats[1].Median / stats[0].Median:0.0}x of local"));
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>Times a start to the first answer; the machine's disposal runs off the clock.</summary>
    private static async Task TimeAsync(string name, Dictionary<string, List<TimeSpan>>? samples, Func<Task<QemuMachine>> start, Action<string> say,
        BenchOptions options, CancellationToken ct)
    {
        GC.Collect();
        var stopwatch = Stopwatch.StartNew();
        var machine = await start().ConfigureAwait(false);
        await using (machine.ConfigureAwait(false))
        {
            var result = await machine.ExecAsync("echo $((6*7))", TimeSpan.FromSeconds(120), ct).ConfigureAwait(false);
            var elapsed = stopwatch.Elapsed;
            if (result.Output.Trim() != "42")
            {
                throw new InvalidOperationException($"unexpected answer '{result.Output}' from the {name} machine");
            }

            samples?[name].Add(elapsed);
            if (!options.Flag("--quiet"))
            {
                say($"  {(samples is null ? "warmup " : string.Empty)}{name}: {BenchOutput.Duration(elapsed)}");
            }
        }
    }
}
