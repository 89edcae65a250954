using System.Diagnostics;

namespace QemuTestKit.Bench;

/// <summary>One thing to time: a name and the operation (one call = one sample).</summary>
internal sealed record Variant(string Name, Func<CancellationToken, Task> Run);

/// <summary>The samples of one variant, sorted, with their median, minimum and maximum.</summary>
internal sealed class Stats
{
    public Stats(string name, IEnumerable<TimeSpan> samples)
    {
        Name = name;
        Samples = samples.Order().ToArray();
        if (Samples.Count == 0)
        {
            throw new ArgumentException("no samples", nameof(samples));
        }
    }

    public string Name { get; }

    public IReadOnlyList<TimeSpan> Samples { get; }

    public TimeSpan Min => Samples[0];

    public TimeSpan Max => Samples[^1];

    public TimeSpan Median => Samples.Count % 2 == 1
        ? Samples[Samples.Count / 2]
        : (Samples[(Samples.Count / 2) - 1] + Samples[Samples.Count / 2]) / 2;
}

/// <summary>
/// Wall-clock measurement of end-to-end operations (process starts, file I/O), in one process. Variants are
/// interleaved run by run (a, b, a, b, ...) so that drift in the machine's load hits them alike; a full garbage
/// collection before each sample keeps one variant's garbage from being collected on the other's clock.
/// </summary>
internal static class Measure
{
    public static async Task<IReadOnlyList<Stats>> AlternatingAsync(
        IReadOnlyList<Variant> variants, BenchOptions options, CancellationToken cancellationToken, Action<string>? progress = null,
        Retry? retry = null)
    {
        ArgumentNullException.ThrowIfNull(variants);
        ArgumentNullException.ThrowIfNull(options);
        for (var i = 0; i < options.Warmup; i++)
        {
            foreach (var variant in variants)
            {
                var elapsed = await TimeOrRetryAsync(variant, retry, progress, cancellationToken).ConfigureAwait(false);
                progress?.Invoke($"warmup {i + 1}/{options.Warmup} {variant.Name}: {BenchOutput.Duration(elapsed)}");
            }
        }

        var samples = variants.ToDictionary(v => v.Name, _ => new List<TimeSpan>(options.Runs), StringComparer.Ordinal);
        for (var run = 0; run < options.Runs; run++)
        {
            foreach (var variant in variants)
            {
                var elapsed = await TimeOrRetryAsync(variant, retry, progress, cancellationToken).ConfigureAwait(false);
                samples[variant.Name].Add(elapsed);
                progress?.Invoke($"run {run + 1}/{options.Runs} {variant.Name}: {BenchOutput.Duration(elapsed)}");
            }
        }

        return variants.Select(v => new Stats(v.Name, samples[v.Name])).ToArray();
    }

    /// <summary>
    /// Times <paramref name="variant"/>; when <paramref name="retry"/> says a failure voids only this sample (not the
    /// benchmark), reports it, counts it, and times the variant again.
    /// </summary>
    private static async Task<TimeSpan> TimeOrRetryAsync(Variant variant, Retry? retry, Action<string>? progress, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await TimeAsync(variant, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (retry is not null && retry.Voids(e) && !cancellationToken.IsCancellationRequested)
            {
                retry.Count(variant.Name);
                progress?.Invoke($"{variant.Name}: sample voided and repeated ({retry.Describe(e)})");
            }
        }
    }

    /// <summary>Times one call of <paramref name="variant"/>.</summary>
    public static async Task<TimeSpan> TimeAsync(Variant variant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(variant);
        cancellationToken.ThrowIfCancellationRequested();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var stopwatch = Stopwatch.StartNew();
        await variant.Run(cancellationToken).ConfigureAwait(false);
        return stopwatch.Elapsed;
    }
}

/// <summary>
/// Which failures of a sample void that sample only, so the variant is timed again, and how many such failures a
/// benchmark tolerates before it fails (the failures are counted per variant, for the report).
/// </summary>
internal sealed class Retry(Func<Exception, bool> voids, Func<Exception, string> describe, int limit)
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, int> Counts => _counts;

    public int Total => _counts.Values.Sum();

    public bool Voids(Exception e) => voids(e) && Total < limit;

    public string Describe(Exception e) => describe(e);

    public void Count(string variant) => _counts[variant] = _counts.GetValueOrDefault(variant) + 1;
}
