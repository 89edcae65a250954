namespace QemuTestKit.Cli.Output.Json;

/// <summary><c>hunt --json</c>: the hunt's settings, how many runs it took, and the failing run if one was caught.</summary>
/// <param name="RunsDone">Runs that finished (passed, or the failing one).</param>
/// <param name="Failure">The first failing run; null when every run passed.</param>
internal sealed record HuntReport(
    string Project,
    string Filter,
    int Runs,
    int RunsDone,
    string Output,
    bool Caught,
    HuntReport.FailingRun? Failure)
{
    /// <param name="Trx">The run's TRX file, which the failed tests were read from.</param>
    /// <param name="Replay">The command that replays the last kept bundle from its last checkpoint.</param>
    internal sealed record FailingRun(
        int Run,
        string Directory,
        string OutputLog,
        string? Trx,
        string? Perturbation,
        bool TimedOut,
        IReadOnlyList<FailedTest> FailedTests,
        IReadOnlyList<string> Bundles,
        string? Replay);

    /// <param name="Message">The failure message from the TRX (Output/ErrorInfo/Message).</param>
    internal sealed record FailedTest(string Name, string? Message);
}
