namespace QemuTestKit.Cli.Hunt;

/// <summary>The test project a hunt runs: built once, then its test application is run directly for every run.</summary>
internal sealed record TestProject(string ProjectFile, string TestApplication, TestFramework Framework)
{
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
        var build = await ProcessRun.RunAsync("dotnet", ["build", file, "-c", configuration, "-nologo", "-v:q", "-tl:off"], null, null,
            TimeSpan.FromMinutes(15), ct, Path.GetDirectoryName(file)).ConfigureAwait(false);
        if (build.ExitCode != 0)
        {
            throw new HuntException($"the test project does not build (dotnet build exited with {build.ExitCode}):\n{ProcessRun.Tail(build.Output)}");
        }

        var property = await ProcessRun.RunAsync("dotnet", ["msbuild", file, "-getProperty:TargetPath", $"-p:Configuration={configuration}", "-nologo"], null, null,
            TimeSpan.FromMinutes(5), ct, Path.GetDirectoryName(file)).ConfigureAwait(false);
        var target = property.Output.Trim();
        if (property.ExitCode != 0 || !File.Exists(target))
        {
            throw new HuntException($"could not find the test application of {file} (TargetPath '{target}'): {ProcessRun.Tail(property.Output, 5)}");
        }

        var directory = Path.GetDirectoryName(target)!;
        var framework = File.Exists(Path.Combine(directory, "xunit.v3.core.dll")) ? TestFramework.Xunit
            : File.Exists(Path.Combine(directory, "MSTest.TestFramework.dll")) ? TestFramework.MSTest
            : throw new HuntException($"{file} is neither an xunit.v3 nor an MSTest test project (no xunit.v3.core.dll or MSTest.TestFramework.dll next to {target})");
        return new TestProject(file, target, framework);
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
