using System.Globalization;

namespace QemuTestKit.Bench;

/// <summary>A wrong argument to a benchmark: reported in one line, exit code 2.</summary>
internal sealed class BenchUsageException(string message) : Exception(message);

/// <summary>A benchmark's own check failed (wrong guest output, a replay that diverged): the run is void, exit code 1.</summary>
internal sealed class BenchFailedException(string message) : Exception(message);

/// <summary>
/// The options every benchmark understands: <c>--runs N</c> (measured runs per variant, default 7 unless the benchmark says otherwise) and
/// <c>--warmup N</c> (unmeasured runs per variant first, default 1), plus the options a benchmark declares:
/// value options (<c>--qemu PATH</c>) and flags.
/// </summary>
internal sealed record BenchOptions(int Runs, int Warmup, IReadOnlyDictionary<string, string> Values, IReadOnlySet<string> Flags)
{
    public const int DefaultRuns = 7;
    public const int DefaultWarmup = 1;

    public string Value(string name, string fallback) => Values.TryGetValue(name, out var value) ? value : fallback;

    public bool Flag(string name) => Flags.Contains(name);

    /// <summary>Parses <paramref name="args"/>; <paramref name="defaultRuns"/> replaces <see cref="DefaultRuns"/> for slow benchmarks.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args, IEnumerable<string>? valueOptions = null, IEnumerable<string>? flagOptions = null,
        int defaultRuns = DefaultRuns)
    {
        ArgumentNullException.ThrowIfNull(args);
        var valueNames = new HashSet<string>(valueOptions ?? [], StringComparer.Ordinal);
        var flagNames = new HashSet<string>(flagOptions ?? [], StringComparer.Ordinal);
        var runs = defaultRuns;
        var warmup = DefaultWarmup;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name == "--runs")
            {
                runs = Count(args, ref i, minimum: 1);
            }
            else if (name == "--warmup")
            {
                warmup = Count(args, ref i, minimum: 0);
            }
            else if (valueNames.Contains(name))
            {
                values[name] = ++i < args.Count ? args[i] : throw new BenchUsageException($"{name} needs a value");
            }
            else if (flagNames.Contains(name))
            {
                flags.Add(name);
            }
            else
            {
                var own = string.Join(", ", valueNames.Select(v => v + " VALUE").Concat(flagNames));
                throw new BenchUsageException($"unknown argument '{name}' (options: --runs N, --warmup N{(own.Length > 0 ? ", " + own : string.Empty)})");
            }
        }

        return new BenchOptions(runs, warmup, values, flags);
    }

    private static int Count(IReadOnlyList<string> args, ref int i, int minimum)
    {
        var name = args[i];
        if (++i >= args.Count || !int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < minimum)
        {
            throw new BenchUsageException($"{name} needs a whole number >= {minimum.ToString(CultureInfo.InvariantCulture)}");
        }

        return value;
    }
}
