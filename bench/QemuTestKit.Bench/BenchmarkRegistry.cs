using QemuTestKit.Bench.Benchmarks;

namespace QemuTestKit.Bench;

/// <summary>Every benchmark this program can run, by name.</summary>
internal static class BenchmarkRegistry
{
    public static IReadOnlyList<IBenchmark> All { get; } =
    [
        new IntrospectBenchmark(),
        new SnapshotStartBenchmark(),
        new IncrementalBuildBenchmark(),
        new RecordOverheadBenchmark(),
        new ReplayFromCheckpointBenchmark(),
        new ReplayFixedCostBenchmark(),
        new BundleSizeBenchmark(),
        new ParallelBenchmark(),
        new ContainerStartBenchmark(),
        new QemuVersionsBenchmark(),
    ];

    public static IBenchmark? Find(string name) =>
        All.FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.Ordinal));
}
