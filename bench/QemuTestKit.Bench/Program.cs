using QemuTestKit.Bench;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

if (args.Length == 0 || args[0] is "-h" or "--help" or "help" or "list")
{
    var asked = args.Length > 0;
    BenchOutput.PrintUsage(asked ? Console.Out : Console.Error);
    return asked ? 0 : BenchOutput.UsageExitCode;
}

if (BenchmarkRegistry.Find(args[0]) is not { } benchmark)
{
    await Console.Error.WriteLineAsync($"bench: unknown benchmark '{args[0]}'").ConfigureAwait(false);
    BenchOutput.PrintUsage(Console.Error);
    return BenchOutput.UsageExitCode;
}

try
{
    return await benchmark.RunAsync(args[1..], cancel.Token).ConfigureAwait(false);
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    await Console.Error.WriteLineAsync($"bench: {benchmark.Name}: cancelled").ConfigureAwait(false);
    return 130;
}
catch (BenchUsageException e)
{
    await Console.Error.WriteLineAsync($"bench: {benchmark.Name}: {e.Message}").ConfigureAwait(false);
    return BenchOutput.UsageExitCode;
}
