using System.Text.Json;
using QemuTestKit.Cli.Progress;

namespace QemuTestKit.Cli.Hunt;

/// <summary>The test project a hunt runs: built once, then its test application is run directly for every run.</summary>
internal sealed record TestProject(string ProjectFile, string TestApplication, TestFramework Framework)
{
    private const string TrxExtension = "Microsoft.Testing.Extensions.TrxReport";

    public static async Task<TestProject> BuildAsync(string project, string configuration, Action<string> say, CancellationToken ct)
    {
        var file = Path.GetFullPath(project);
        if (Directory.Exists(file))
        {
            var projects = Directory.GetFiles(file, "*.csproj");
            file = projects.Length == 1
                ? projects[0]
                : throw new HuntException($"--project {project}: expected one .csproj in that directory, found {projects.Length}; name the project file");
        }

        if (!File.Exists(file))
        {
            throw new HuntException($"--project {project}: no such project file");
        }

        say($"hunt: building {file} ({configuration})");
        ProcessRun.Result build;
        await using (Heartbeat.Start(elapsed => $"hunt: still building ({Heartbeat.Seconds(elapsed)})", say, ct))
        {
            build = await ProcessRun.RunAsync("dotnet", ["build", file, "-c", configuration, "-nologo", "-v:q", "-tl:off"], null, null,
                TimeSpan.FromMinutes(15), ct, Path.GetDirectoryName(file)).ConfigureAwait(false);
        }

        if (build.ExitCode != 0)
        {
            throw new HuntException($"the test project does not build (dotnet build exited with {build.ExitCode}):\n{ProcessRun.Tail(build.Output)}");
        }

        say($"hunt: built in {Heartbeat.Seconds(build.Elapsed)}");
        var (target, testingPlatform) = await PropertiesAsync(file, configuration, ct).ConfigureAwait(false);
        if (!testingPlatform)
        {
            // VSTest: its test application has no TRX or filter options of its own, and dotnet test runs it through MSBuild.
            throw new HuntException(
                $"{file} is not a Microsoft.Testing.Platform test application (IsTestingPlatformApplication is not true), and hunt runs tests through it: " +
                "for MSTest set <OutputType>Exe</OutputType> and <EnableMSTestRunner>true</EnableMSTestRunner> in the project, and add global.json " +
                "{\"test\":{\"runner\":\"Microsoft.Testing.Platform\"}} next to it so that dotnet test runs it the same way");
        }

        var directory = Path.GetDirectoryName(target)!;
        var framework = File.Exists(Path.Combine(directory, "xunit.v3.core.dll")) ? TestFramework.Xunit
            : File.Exists(Path.Combine(directory, "MSTest.TestFramework.dll")) ? TestFramework.MSTest
            : throw new HuntException($"{file} is neither an xunit.v3 nor an MSTest test project (no xunit.v3.core.dll or MSTest.TestFramework.dll next to {target})");
        if (!File.Exists(Path.Combine(directory, TrxExtension + ".dll")))
        {
            throw new HuntException(
                $"{file} cannot write TRX results, which hunt reads the failed tests from: add <PackageReference Include=\"{TrxExtension}\" /> to the project");
        }

        return new TestProject(file, target, framework);
    }

    private static async Task<(string Target, bool TestingPlatform)> PropertiesAsync(string file, string configuration, CancellationToken ct)
    {
        var query = await ProcessRun.RunAsync("dotnet",
            ["msbuild", file, "-getProperty:TargetPath", "-getProperty:IsTestingPlatformApplication", $"-p:Configuration={configuration}", "-nologo"], null, null,
            TimeSpan.FromMinutes(5), ct, Path.GetDirectoryName(file)).ConfigureAwait(false);
        try
        {
            using var json = JsonDocument.Parse(query.Output);
            var properties = json.RootElement.GetProperty("Properties");
            var target = properties.GetProperty("TargetPath").GetString() ?? string.Empty;
            if (query.ExitCode == 0 && File.Exists(target))
            {
                return (target, string.Equals(properties.GetProperty("IsTestingPlatformApplication").GetString(), "true", StringComparison.OrdinalIgnoreCase));
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
        }

        throw new HuntException($"could not find the test application of {file}: {ProcessRun.Tail(query.Output, 5)}");
    }

    /// <summary>The test application's arguments that select <paramref name="filter"/>.</summary>
    public IReadOnlyList<string> FilterArguments(string filter) => Framework switch
    {
        // xunit.v3: a method name, with * wildcards, or a query-filter expression (it starts with '/').
        TestFramework.Xunit => filter.StartsWith('/') ? ["--filter-query", filter] : ["--filter-method", filter],
        // MSTest: its own filter expression, or a name that a fully qualified name contains.
        _ => filter.IndexOfAny(['=', '~', '!', '&', '|']) >= 0 ? ["--filter", filter] : ["--filter", $"FullyQualifiedName~{filter}"],
    };
}

internal enum TestFramework
{
    Xunit,
    MSTest,
}
