namespace QemuTestKit.Fixtures.Testing;

/// <summary>
/// The test run's results directory, where Microsoft.Testing.Platform writes its TRX files, found the way the platform
/// finds it: <c>--results-directory</c> on the test host's command line; else <c>TestResults</c> under the directory
/// <c>dotnet test</c> was run from (the platform reads it from <c>DOTNET_CLI_TEST_COMMAND_WORKING_DIRECTORY</c>); else
/// <c>TestResults</c> next to the test assembly (the test application run directly). Bundles go under it, so a CI job
/// that publishes the TRX publishes them too.
/// </summary>
public static class ResultsDirectory
{
    /// <summary>Set by <c>dotnet test</c> for the test applications it starts: the directory it was run from.</summary>
    public const string DotnetTestWorkingDirectoryVariable = "DOTNET_CLI_TEST_COMMAND_WORKING_DIRECTORY";

    public static string Find(IReadOnlyList<string>? commandLine = null, Func<string, string?>? environment = null)
    {
        var args = commandLine ?? Environment.GetCommandLineArgs();
        environment ??= Environment.GetEnvironmentVariable;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg is "--results-directory" && i + 1 < args.Count)
            {
                return Path.GetFullPath(args[i + 1]);
            }

            if (arg.StartsWith("--results-directory=", StringComparison.Ordinal))
            {
                return Path.GetFullPath(arg["--results-directory=".Length..]);
            }
        }

        var workingDirectory = environment(DotnetTestWorkingDirectoryVariable);
        return Path.Combine(string.IsNullOrWhiteSpace(workingDirectory) ? AppContext.BaseDirectory : Path.GetFullPath(workingDirectory), "TestResults");
    }
}
