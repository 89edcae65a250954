using System.Globalization;
using System.Text.Json.Nodes;
using QemuTestKit.Fixtures;
using QemuTestKit.Fixtures.Testing;
using QemuTestKit.Introspection;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>parallel</c>: 8 sample tests through the fixtures' <see cref="MachineHost"/> (each: a machine from the ready
/// snapshot, recorded, a few commands and a checkpoint, a passing end that drops the recording), run one after another
/// versus all at once under the host's default limit (one machine per core, the rest queued), alternating.
/// Goal: default concurrency &lt;= 0.6x of sequential (medians). Last line: <c>parallel: &lt;x&gt;x of sequential</c>.
/// </summary>
internal sealed class ParallelBenchmark : IBenchmark
{
    private const double Goal = 0.6;
    private const string Sequential = "sequential";
    private const string Concurrent = "default concurrency";

    public string Name => "parallel";

    public string Description => "8 sample tests through the fixtures, sequential vs. the default concurrency (goal: <= 0.6x); options --guest GUEST_JSON, --tests N";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: [BenchGuest.Option, "--tests"], defaultRuns: 3);
        var tests = options.Values.TryGetValue("--tests", out var text)
            ? int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new BenchUsageException("--tests needs a whole number")
            : 8;
        void Say(string line) => BenchOutput.Line(Name, line);
        var root = Directory.CreateTempSubdirectory("qtk-bench-parallel-").FullName;
        return await BenchOutput.GuardAsync(Name, root, async () =>
        {
            if (await BenchGuest.PrepareAsync(Name, options, root, Say, icountShift: 5, cancellationToken).ConfigureAwait(false) is not { } guest)
            {
                return 1;
            }

            var manifest = WriteManifest(root, guest.Spec, guest.Ready.Directory);
            var defaults = FixtureSettings.FromEnvironment(_ => null);
            var oneAtATime = new MachineHost(defaults with { MaxMachines = 1 }, manifest, runRoot: Path.Combine(root, "run"));
            await using var disposeOne = oneAtATime.ConfigureAwait(false);
            var concurrent = new MachineHost(defaults, manifest, runRoot: Path.Combine(root, "run"));
            await using var disposeConcurrent = concurrent.ConfigureAwait(false);
            Say(string.Create(CultureInfo.InvariantCulture,
                $"{tests} tests per sample, {options.Runs} samples per variant, alternating (+{options.Warmup} warmup); default limit: {defaults.MaxMachines} machines at once"));
            var stats = await Measure.AlternatingAsync(
                [
                    new Variant(Sequential, async ct =>
                    {
                        for (var i = 0; i < tests; i++)
                        {
                            await RunTestAsync(oneAtATime, guest.Spec.Name, i, ct).ConfigureAwait(false);
                        }
                    }),
                    new Variant(Concurrent, ct => Task.WhenAll(Enumerable.Range(0, tests).Select(i => RunTestAsync(concurrent, guest.Spec.Name, i, ct)))),
                ],
                options,
                cancellationToken,
                line => Say("  " + line)).ConfigureAwait(false);

            BenchOutput.Table(Name, stats);
            var ratio = stats.Single(s => s.Name == Concurrent).Median / stats.Single(s => s.Name == Sequential).Median;
            Say($"  goal <= {Goal.ToString("0.0", CultureInfo.InvariantCulture)}x: {(ratio <= Goal ? "ok" : "MISSED")}");
            Say(string.Create(CultureInfo.InvariantCulture, $"{ratio:0.00}x of sequential"));
            return 0;
        }).ConfigureAwait(false);
    }

    /// <summary>One sample test, as HelloGuest's tests are: start, a few commands, a checkpoint, a passing end.</summary>
    private static async Task RunTestAsync(MachineHost host, string machine, int index, CancellationToken ct)
    {
        var test = new BenchScope(index, ct);
        try
        {
            var guest = await host.StartAsync(test, machine, cancellationToken: ct).ConfigureAwait(false);
            await using var stop = guest.ConfigureAwait(false);
            Expect(await guest.ExecAsync("uname -s", cancellationToken: ct).ConfigureAwait(false), "Linux");
            Expect(await guest.ExecAsync("seq 1 2000 | md5sum", cancellationToken: ct).ConfigureAwait(false), "ea4d0a24dabcaa11f9aa979b872d162b  -");
            await guest.CheckpointAsync("middle", ct).ConfigureAwait(false);
            Expect(await guest.ExecAsync("echo done > /tmp/done && cat /tmp/done", cancellationToken: ct).ConfigureAwait(false), "done");
        }
        finally
        {
            await host.EndTestAsync(test, TestOutcome.Passed).ConfigureAwait(false);
        }
    }

    private static void Expect(QemuTestKit.Machines.Console.ExecResult result, string output)
    {
        if (result.ExitCode != 0 || result.Output != output)
        {
            throw new BenchFailedException($"expected '{output}', the guest said '{result.Output}' (exit {result.ExitCode})");
        }
    }

    private static string WriteManifest(string root, MachineSpec spec, string stateDirectory)
    {
        var path = Path.Combine(root, "qemutestkit.machines.json");
        File.WriteAllText(path, new JsonObject
        {
            ["schemaVersion"] = 1,
            ["machines"] = new JsonArray(new JsonObject
            {
                ["name"] = spec.Name,
                ["prepare"] = true,
                ["stateDirectory"] = stateDirectory,
                ["spec"] = JsonNode.Parse(MachineSpecJson.Serialize(spec)),
            }),
        }.ToJsonString());
        return path;
    }

    private sealed class BenchScope(int index, CancellationToken token) : ITestScope
    {
        public string Key { get; } = $"bench-{index}-{Guid.NewGuid():N}";

        public string TestName => string.Create(CultureInfo.InvariantCulture, $"Bench.Test{index}");

        public CancellationToken CancellationToken => token;

        public IReadOnlyList<string> FilterArguments => [];

        public void WriteLine(string line)
        {
        }

        public void Attach(string path, string description)
        {
        }
    }
}
