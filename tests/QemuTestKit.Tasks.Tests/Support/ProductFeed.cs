using System.Diagnostics;
using System.Reflection;
using System.Security;
using QemuTestKit.Machines.Tests.Support;

[assembly: AssemblyFixture(typeof(QemuTestKit.Tasks.Tests.Support.ProductFeed))]

namespace QemuTestKit.Tasks.Tests.Support;

/// <summary>
/// Once per test run: packs the whole product (all 8 packages) from this build's outputs into a local feed in a
/// private temporary directory, and offers generated projects that consume the packages from there, the way a user's
/// project does. Everything a build writes stays under <see cref="Root"/>:
/// NuGet packages (a private folder, so no stale QemuTestKit.Tasks 0.1.0 from the global cache is used), the QEMU
/// catalog cache, QEMU run directories, the projects. Builds run at most two at a time (2-core CI).
/// </summary>
public sealed class ProductFeed : IAsyncLifetime
{
    /// <summary>Every package of the product: what the README's pack line packs.</summary>
    public static readonly string[] PackedProjects =
    [
        "QemuTestKit.Introspection", "QemuTestKit.Machines", "QemuTestKit.Tasks", "QemuTestKit.Fixtures", "QemuTestKit.Fixtures.Xunit",
        "QemuTestKit.Fixtures.MSTest", "QemuTestKit.Containers", "QemuTestKit.Fixtures.Containers", "QemuTestKit.Cli",
    ];

    /// <summary>The dotnet tool's project: packed as a pointer package and one ReadyToRun package per RID.</summary>
    public const string CliProject = "QemuTestKit.Cli";

    /// <summary>The RIDs the CLI is packed for.</summary>
    public static readonly string[] CliRuntimeIdentifiers = ["linux-x64", "linux-arm64"];

    private readonly SemaphoreSlim _builds = new(2, 2);
    private readonly SemaphoreSlim _slotOrder = new(1, 1);
    private int _projects;

    public ProductFeed()
    {
        Root = Directory.CreateTempSubdirectory("qtk-tasks-").FullName;
        Feed = Path.Combine(Root, "feed");
        Packages = Path.Combine(Root, "packages");
        CacheDirectory = Path.Combine(Root, "cache");
        RunRoot = Path.Combine(Root, "run");
        GuestDirectory = Path.Combine(Root, "guest");
        ProjectsDirectory = Path.Combine(Root, "p");
    }

    /// <summary>The private directory of this test run; every QEMU a build starts mentions it.</summary>
    public string Root { get; }

    public string Feed { get; }

    public string Packages { get; }

    public string CacheDirectory { get; }

    public string RunRoot { get; }

    /// <summary>Copies of the test guest's kernel and initrd, shared by projects that do not touch them.</summary>
    public string GuestDirectory { get; }

    public string ProjectsDirectory { get; }

    public string Configuration { get; } = typeof(ProductFeed).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "QemuTestKit.Configuration")?.Value ?? "Debug";

    public string TasksVersion { get; private set; } = string.Empty;

    public TimeSpan PackTime { get; private set; }

    /// <summary>The warnings dotnet pack printed for all the packages (a package must pack without any).</summary>
    public IReadOnlyList<string> PackWarnings { get; private set; } = [];

    /// <summary>The test guest's kernel command line.</summary>
    public string GuestAppend { get; } = TestGuest.Load().Append;

    /// <summary>What the test guest prints when it is ready.</summary>
    public string GuestReadyPattern { get; } = TestGuest.Load().ReadyPattern;

    public string Kernel => Path.Combine(GuestDirectory, "vmlinuz");

    public string Initrd => Path.Combine(GuestDirectory, "initramfs.cpio.gz");

    /// <summary>The environment of every dotnet command of the tests.</summary>
    public IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?>(StringComparer.Ordinal)
    {
        ["NUGET_PACKAGES"] = Packages,
        ["QEMUTESTKIT_CACHE_DIR"] = CacheDirectory,
        ["QEMUTESTKIT_RUN_ROOT"] = RunRoot,
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
        ["DOTNET_CLI_UI_LANGUAGE"] = "en",
        ["MSBUILDDISABLENODEREUSE"] = "1",
    };

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Feed);
        Directory.CreateDirectory(GuestDirectory);
        Directory.CreateDirectory(ProjectsDirectory);
        File.Copy(TestGuest.Load().Kernel, Kernel);
        File.Copy(TestGuest.Load().Initrd, Initrd);
        WriteIsolation();

        var stopwatch = Stopwatch.StartNew();
        var repository = RepositoryRoot();
        Task<DotnetResult> Pack(string project, bool build, IReadOnlyDictionary<string, string?> environment) => Dotnet.RunAsync(
            ["pack", Path.Combine(repository, "src", project, project + ".csproj"), .. build ? Array.Empty<string>() : ["--no-build"], "-c", Configuration,
                "-o", Feed, "-nodeReuse:false", "--disable-build-servers", "-tl:off", "-v:m"],
            repository, environment, TimeSpan.FromMinutes(5));

        var results = (await Task.WhenAll(PackedProjects.Where(p => p != CliProject).Select(p => Pack(p, build: false, Environment)))).ToList();

        // The CLI's packages are ReadyToRun, one per RID: packing compiles it for each RID, which --no-build cannot do.
        // It runs after the others (it checks what they read) and restores into the packages folder the solution's
        // build used, so the projects it references stay up to date instead of being restored and rebuilt.
        results.Add(await Pack(CliProject, build: true, Environment.Where(e => e.Key != "NUGET_PACKAGES").ToDictionary(StringComparer.Ordinal)));
        foreach (var result in results)
        {
            if (!result.Succeeded)
            {
                throw new InvalidOperationException($"packing the product failed (build the solution in {Configuration} first):\n{result}");
            }
        }

        PackWarnings = results.SelectMany(r => r.Lines).Where(l => l.Contains(": warning ", StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).ToArray();

        PackTime = stopwatch.Elapsed;
        var tasks = Directory.GetFiles(Feed, "QemuTestKit.Tasks.*.nupkg").Single();
        TasksVersion = Path.GetFileNameWithoutExtension(tasks)["QemuTestKit.Tasks.".Length..];
    }

    public ValueTask DisposeAsync()
    {
        QemuProcesses.KillUnder(Root);
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        _builds.Dispose();
        _slotOrder.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>A new project directory with a project that references QemuTestKit.Tasks and declares <paramref name="items"/>.</summary>
    public GeneratedProject CreateProject(string name, string items, string properties = "")
    {
        var directory = Path.Combine(ProjectsDirectory, $"{Interlocked.Increment(ref _projects):D2}-{name}");
        Directory.CreateDirectory(directory);
        var project = Path.Combine(directory, $"{name}.csproj");
        File.WriteAllText(project, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                {properties}
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="QemuTestKit.Tasks" Version="{TasksVersion}" />
              </ItemGroup>
              <ItemGroup>
            {items}
              </ItemGroup>
            </Project>

            """);
        return new GeneratedProject(this, directory, project);
    }

    /// <summary>Runs one dotnet command on a generated project, at most two at a time.</summary>
    /// <param name="slots">How many of the two build slots the command takes (a build with -m:2 takes both).</param>
    /// <param name="environment">Variables set (or, when null, removed) on top of <see cref="Environment"/>.</param>
    public async Task<DotnetResult> RunAsync(string directory, IReadOnlyList<string> arguments, TimeSpan? timeout = null,
        Func<Process, System.Text.StringBuilder, CancellationToken, Task>? whileRunning = null, IReadOnlyList<string>? prefix = null, int slots = 1,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        // Slots are taken one at a time under a lock, so that two commands that each want both cannot deadlock.
        await _slotOrder.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            for (var i = 0; i < slots; i++)
            {
                await _builds.WaitAsync(TestContext.Current.CancellationToken);
            }
        }
        finally
        {
            _slotOrder.Release();
        }

        try
        {
            var variables = environment is null
                ? Environment
                : Environment.Concat(environment).GroupBy(v => v.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);
            return await Dotnet.RunAsync(arguments, directory, variables, timeout ?? TimeSpan.FromMinutes(5), whileRunning, prefix,
                TestContext.Current.CancellationToken);
        }
        finally
        {
            _builds.Release(slots);
        }
    }

    // Generated projects see only the local feed and nuget.org, a private packages folder, and no Directory.Build.*
    // files from above the temporary directory. The sources are named as the README's nuget.config names them, so
    // that a project with that nuget.config (which clears the sources) still matches this source mapping.
    private void WriteIsolation()
    {
        File.WriteAllText(Path.Combine(Root, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config>
                <add key="globalPackagesFolder" value="{SecurityElement.Escape(Packages)}" />
              </config>
              <packageSources>
                <clear />
                <add key="qtk-local" value="{SecurityElement.Escape(Feed)}" />
                <add key="nuget" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="qtk-local">
                  <package pattern="QemuTestKit.*" />
                </packageSource>
                <packageSource key="nuget">
                  <package pattern="*" />
                </packageSource>
              </packageSourceMapping>
            </configuration>

            """);
        File.WriteAllText(Path.Combine(Root, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(Root, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(Root, "Directory.Packages.props"), "<Project />\n");
    }

    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "QemuTestKit.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"QemuTestKit.sln not found above {AppContext.BaseDirectory}");
    }
}
