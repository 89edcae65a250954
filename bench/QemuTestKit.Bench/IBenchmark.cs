namespace QemuTestKit.Bench;

/// <summary>
/// One named wall-clock benchmark: <c>dotnet run -c Release --project bench/QemuTestKit.Bench -- &lt;name&gt; [options]</c>.
/// Add an implementation to <see cref="BenchmarkRegistry.All"/> to make it runnable.
/// </summary>
internal interface IBenchmark
{
    /// <summary>The command-line name, lower-case with dashes (for example <c>introspect</c>).</summary>
    string Name { get; }

    /// <summary>One line: what is measured, and the goal if there is one.</summary>
    string Description { get; }

    /// <summary>Runs the benchmark with the arguments after its name; returns the process exit code.</summary>
    Task<int> RunAsync(string[] args, CancellationToken cancellationToken);
}
