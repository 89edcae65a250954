namespace QemuTestKit.Fixtures.Testing;

/// <summary>
/// The test run's results directory (where TRX files go): <c>--results-directory</c> of the test host's command line
/// (Microsoft.Testing.Platform passes it through <c>dotnet test</c>), else <c>TestResults</c> next to the test assembly,
/// which is the platform's own default.
/// </summary>
public static class ResultsDirectory
{
    public static string Find(IReadOnlyList<string>? commandLine = null)
    {
        var args = commandLine ?? Environment.GetCommandLineArgs();
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

        return Path.Combine(AppContext.BaseDirectory, "TestResults");
    }
}
