using System.Diagnostics;
using System.Text.Json;
using QemuTestKit.Introspection;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Introspection.Processes;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>introspect</c>: a full walk of a QEMU binary over QMP (cold, no cache) against a lookup in a catalog cache that
/// already holds the binary's catalog. Goals on the reference 2-core machine: cold &lt;= 2 s, cached &lt;= 50 ms.
/// Last line: <c>introspect: cold 0.84 s, cached 12.3 ms</c> (medians).
/// </summary>
internal sealed class IntrospectBenchmark : IBenchmark
{
    private static readonly TimeSpan ColdGoal = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan CachedGoal = TimeSpan.FromMilliseconds(50);

    public string Name => "introspect";

    public string Description => "cold QMP walk of a QEMU binary vs. a catalog cache hit (goal: cold <= 2 s, cached <= 50 ms); options --qemu BINARY, --breakdown, --quiet";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: ["--qemu"], flagOptions: ["--breakdown", "--quiet"]);
        var qemu = options.Value("--qemu", "qemu-system-x86_64");
        void Say(string text) => BenchOutput.Line(Name, text);
        Action<string>? progress = options.Flag("--quiet") ? null : text => Say("  " + text);

        var cacheDir = Directory.CreateTempSubdirectory("qtk-bench-introspect-").FullName;
        try
        {
            var binary = QemuBinary.Resolve(qemu);
            Say($"binary {binary.Path}, {options.Runs} runs per variant alternating (+{options.Warmup} warmup), cache {cacheDir}");

            // Fill the cache (this is also the first, JIT-laden walk of this process), then time the first hit.
            var fill = Stopwatch.StartNew();
            var filled = await new CatalogCache(cacheDir).GetAsync(qemu, cancellationToken).ConfigureAwait(false);
            Say($"  filled the cache in {BenchOutput.Duration(fill.Elapsed)} (first walk in this process)");
            var cacheFile = new CatalogCache(cacheDir).FileFor(binary.Path);
            var firstHit = await Measure.TimeAsync(new Variant("cached", ct => CachedAsync(cacheDir, qemu, ct)), cancellationToken).ConfigureAwait(false);
            Say($"  first cache hit in this process: {BenchOutput.Duration(firstHit)} (includes JIT; a CLI run pays this)");
            Say($"  catalog: {filled.Machines.Count} machines, {filled.Cpus.Count} cpus, {filled.DeviceTypes.Count} device types, " +
                $"{filled.DeviceTypes.Sum(d => d.Properties.Count)} device properties; cache file {new FileInfo(cacheFile).Length / 1024} KiB");

            var stats = await Measure.AlternatingAsync(
                [
                    new Variant("cold", ct => ColdAsync(qemu, ct)),
                    new Variant("cached", ct => CachedAsync(cacheDir, qemu, ct)),
                ],
                options,
                cancellationToken,
                progress).ConfigureAwait(false);

            BenchOutput.Table(Name, stats);
            var cold = stats.Single(s => s.Name == "cold").Median;
            var cached = stats.Single(s => s.Name == "cached").Median;
            Say($"  cached is {(cold / cached).ToString("0", System.Globalization.CultureInfo.InvariantCulture)}x faster than cold");
            Say($"  goal cold <= {BenchOutput.Duration(ColdGoal)}: {BenchOutput.Verdict(cold, ColdGoal)}; " +
                $"goal cached <= {BenchOutput.Duration(CachedGoal)}: {BenchOutput.Verdict(cached, CachedGoal)}");

            if (options.Flag("--breakdown") || cached > CachedGoal)
            {
                await BreakdownAsync(qemu, cacheFile, options, Say, cancellationToken).ConfigureAwait(false);
            }

            Say($"cold {BenchOutput.Seconds(cold)} s, cached {BenchOutput.Milliseconds(cached)} ms");
            return 0;
        }
        catch (Exception e) when (e is QemuTestKitException)
        {
            await Console.Error.WriteLineAsync($"bench: {Name}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            try
            {
                Directory.Delete(cacheDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task ColdAsync(string qemu, CancellationToken cancellationToken)
    {
        var catalog = await new QemuIntrospector().IntrospectAsync(qemu, cancellationToken).ConfigureAwait(false);
        if (catalog.Source != CatalogSource.Qemu)
        {
            throw new InvalidOperationException("a cold introspection must come from QEMU");
        }
    }

    private static async Task CachedAsync(string cacheDir, string qemu, CancellationToken cancellationToken)
    {
        var started = QemuProcess.StartedCount;
        var catalog = await new CatalogCache(cacheDir).GetAsync(qemu, cancellationToken).ConfigureAwait(false);
        if (catalog.Source != CatalogSource.Cache || QemuProcess.StartedCount != started)
        {
            throw new InvalidOperationException("the cached lookup missed the cache and started QEMU");
        }
    }

    /// <summary>Where a cache hit spends its time: the steps of <see cref="CatalogCache.GetAsync(string, CancellationToken)"/>, timed one by one.</summary>
    private static async Task BreakdownAsync(string qemu, string cacheFile, BenchOptions options, Action<string> say, CancellationToken cancellationToken)
    {
        var binaryPath = QemuBinary.Resolve(qemu).Path;
        byte[] bytes = [];
        var steps = await Measure.AlternatingAsync(
            [
                new Variant("resolve binary", _ => Task.FromResult(QemuBinary.Resolve(qemu))),
                new Variant("read file", async ct => bytes = await File.ReadAllBytesAsync(cacheFile, ct).ConfigureAwait(false)),
                new Variant("deserialize", _ => Task.FromResult(JsonSerializer.Deserialize(bytes, CatalogJsonContext.Default.QemuCatalog))),
                new Variant("deserialize stream", _ =>
                {
                    using var stream = File.OpenRead(cacheFile);
                    return Task.FromResult(JsonSerializer.Deserialize(stream, CatalogJsonContext.Default.QemuCatalog));
                }),
                new Variant("identity check", _ => Task.FromResult(BinaryIdentityReader.Read(binaryPath))),
            ],
            options,
            cancellationToken).ConfigureAwait(false);
        say("  cache hit breakdown (medians of each step alone):");
        BenchOutput.Table("introspect", steps);
    }
}
