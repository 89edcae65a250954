using System.Globalization;

namespace QemuTestKit.Bench;

/// <summary>
/// The one output format of every benchmark: progress and tables on stdout, prefixed with the benchmark's name, invariant
/// culture; the last line of a run is the benchmark's one-line result (<c>name: ...</c>) for scripts to pick up.
/// </summary>
internal static class BenchOutput
{
    public const int UsageExitCode = 2;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// Runs a benchmark's body: a QemuTestKit error or a failed measurement ends it with one line on stderr and exit code
    /// 1; <paramref name="scratch"/>, when given, is removed afterwards either way.
    /// </summary>
    public static async Task<int> GuardAsync(string name, string? scratch, Func<Task<int>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (Exception e) when (e is QemuTestKit.Introspection.QemuTestKitException or BenchFailedException)
        {
            await Console.Error.WriteLineAsync($"bench: {name}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            if (scratch is not null)
            {
                Directory.Delete(scratch, recursive: true);
            }
        }
    }

    public static void PrintUsage(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteLine("usage: dotnet run -c Release --project bench/QemuTestKit.Bench -- <benchmark> [--runs N] [--warmup N] [options]");
        writer.WriteLine();
        writer.WriteLine("benchmarks:");
        var width = BenchmarkRegistry.All.Max(b => b.Name.Length);
        foreach (var benchmark in BenchmarkRegistry.All)
        {
            writer.WriteLine($"  {benchmark.Name.PadRight(width)}  {benchmark.Description}");
        }
    }

    /// <summary>A duration with a unit that fits it: "842 ms", "12.3 ms", "1.24 s".</summary>
    public static string Duration(TimeSpan value) => value.TotalSeconds >= 1
        ? Seconds(value) + " s"
        : value.TotalMilliseconds >= 100 ? value.TotalMilliseconds.ToString("0", Inv) + " ms" : Milliseconds(value) + " ms";

    /// <summary>Seconds with two decimals, no unit: "0.84".</summary>
    public static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.00", Inv);

    /// <summary>Milliseconds with one decimal, no unit: "12.3".</summary>
    public static string Milliseconds(TimeSpan value) => value.TotalMilliseconds.ToString("0.0", Inv);

    /// <summary>A line of the benchmark's output: "introspect: ...".</summary>
    public static void Line(string benchmark, string text) => Console.WriteLine($"{benchmark}: {text}");

    /// <summary>A table of the variants: median, min and max of each, and how many samples.</summary>
    public static void Table(string benchmark, IReadOnlyList<Stats> stats)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var width = stats.Max(s => s.Name.Length);
        foreach (var s in stats)
        {
            Line(benchmark, string.Create(Inv,
                $"  {s.Name.PadRight(width)}  median {Duration(s.Median),9}  min {Duration(s.Min),9}  max {Duration(s.Max),9}  (n={s.Samples.Count})"));
        }
    }

    /// <summary>Whether a measured value meets its goal, as a short verdict.</summary>
    public static string Verdict(TimeSpan value, TimeSpan goal) => value <= goal ? "ok" : "MISSED";
}
