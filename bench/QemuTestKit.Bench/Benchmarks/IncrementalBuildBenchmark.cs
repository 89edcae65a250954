using System.Diagnostics;
using System.Globalization;
using System.Security;
using System.Text;
using System.Text.Json;

namespace QemuTestKit.Bench.Benchmarks;

/// <summary>
/// <c>incremental-build</c>: what QemuTestKit.Tasks adds to a no-op rebuild. Packs QemuTestKit.Tasks into a private
/// feed, generates a project that references it and declares two machines with <c>Prepare="true"</c> (the test guest),
/// builds it once (which prepares both), and then times no-op rebuilds of it against the same project without the
/// package, alternating. Every build is <c>dotnet build -nodeReuse:false --disable-build-servers</c>, so each pays
/// MSBuild's start and the task assembly's load, as on CI. Goal: at most 0.5 s more per no-op build.
/// Last line: <c>incremental-build: +&lt;s&gt; s per no-op build</c>.
/// </summary>
internal sealed class IncrementalBuildBenchmark : IBenchmark
{
    private static readonly TimeSpan Goal = TimeSpan.FromSeconds(0.5);

    public string Name => "incremental-build";

    public string Description => "no-op dotnet build of a project with two prepared machines vs. the same project without QemuTestKit.Tasks (goal: <= +0.5 s); options --guest GUEST_JSON, --keep";

    public async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = BenchOptions.Parse(args, valueOptions: ["--guest"], flagOptions: ["--quiet", "--keep"]);
        void Say(string text) => BenchOutput.Line(Name, text);
        Action<string>? progress = options.Flag("--quiet") ? null : text => Say("  " + text);

        var guestJson = options.Value("--guest", Environment.GetEnvironmentVariable("QEMUTESTKIT_GUEST") ?? Path.Combine(RepositoryRoot(), "artifacts", "guest", "guest.json"));
        if (!File.Exists(guestJson))
        {
            await Console.Error.WriteLineAsync($"bench: {Name}: test guest {guestJson} not found; run ./build.sh setup").ConfigureAwait(false);
            return 1;
        }

        var root = Directory.CreateTempSubdirectory("qtk-bench-build-").FullName;
        try
        {
            var environment = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                // A private packages folder: the global one may hold an older QemuTestKit.Tasks of the same version.
                ["NUGET_PACKAGES"] = Path.Combine(root, "packages"),
                ["QEMUTESTKIT_CACHE_DIR"] = Path.Combine(root, "cache"),
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_NOLOGO"] = "1",
                ["MSBUILDDISABLENODEREUSE"] = "1",
            };

            var setup = Stopwatch.StartNew();
            var feed = Path.Combine(root, "feed");
            await DotnetAsync(["pack", Path.Combine(RepositoryRoot(), "src", "QemuTestKit.Tasks", "QemuTestKit.Tasks.csproj"), "-c", "Release", "-o", feed,
                "-nodeReuse:false", "--disable-build-servers", "-tl:off", "-v:q"], RepositoryRoot(), environment, cancellationToken).ConfigureAwait(false);
            var version = Path.GetFileNameWithoutExtension(Directory.GetFiles(feed, "QemuTestKit.Tasks.*.nupkg").Single())["QemuTestKit.Tasks.".Length..];
            Say($"packed QemuTestKit.Tasks {version} in {BenchOutput.Duration(setup.Elapsed)}");

            File.WriteAllText(Path.Combine(root, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{SecurityElement.Escape(feed)}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(root, "Directory.Build.props"), "<Project />\n");
            File.WriteAllText(Path.Combine(root, "Directory.Build.targets"), "<Project />\n");
            var items = Machines(guestJson);
            var with = WriteProject(Path.Combine(root, "with"), $"""<PackageReference Include="QemuTestKit.Tasks" Version="{version}" />""", items);
            var without = WriteProject(Path.Combine(root, "without"), string.Empty, items);

            var prepare = Stopwatch.StartNew();
            var first = await BuildAsync(with, environment, cancellationToken).ConfigureAwait(false);
            if (!first.Contains("first: ready in", StringComparison.Ordinal) || !first.Contains("second: ready in", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"the first build did not prepare both machines:\n{first}");
            }

            await BuildAsync(without, environment, cancellationToken).ConfigureAwait(false);
            Say($"first builds (restore, compile, prepare two machines) in {BenchOutput.Duration(prepare.Elapsed)}; " +
                $"{options.Runs} no-op builds per variant, alternating (+{options.Warmup} warmup)");

            var stats = await Measure.AlternatingAsync(
                [
                    new Variant("with QemuTestKit.Tasks", async ct =>
                    {
                        var output = await BuildAsync(with, environment, ct).ConfigureAwait(false);
                        if (output.Contains("booting", StringComparison.Ordinal))
                        {
                            throw new InvalidOperationException($"a no-op build booted a machine:\n{output}");
                        }
                    }),
                    new Variant("without", ct => BuildAsync(without, environment, ct)),
                ],
                options,
                cancellationToken,
                progress).ConfigureAwait(false);

            BenchOutput.Table(Name, stats);
            var added = stats[0].Median - stats[1].Median;
            Say($"  goal <= +{BenchOutput.Seconds(Goal)} s per no-op build: {BenchOutput.Verdict(added, Goal)}");
            Say(string.Create(CultureInfo.InvariantCulture, $"+{Math.Max(0, added.TotalSeconds):0.00} s per no-op build"));
            return 0;
        }
        catch (InvalidOperationException e)
        {
            await Console.Error.WriteLineAsync($"bench: {Name}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            if (options.Flag("--keep"))
            {
                Say($"kept {root}");
            }
            else
            {
                TryDelete(root);
            }
        }
    }

    private static string Machines(string guestJson)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(guestJson));
        var guest = document.RootElement;
        string Field(string name) => SecurityElement.Escape(guest.GetProperty(name).GetString()!);
        var machines = new StringBuilder();
        foreach (var (name, type) in new[] { ("first", "q35"), ("second", "pc") })
        {
            machines.AppendLine(CultureInfo.InvariantCulture, $"""
                    <QemuMachine Include="{name}" MachineType="{type}" Cpu="max" Memory="256M" Kernel="{Field("kernel")}" Initrd="{Field("initrd")}"
                                 Append="{Field("append")}" ReadyPattern="{Field("readyPattern")}" ReadyTimeout="180" Prepare="true" />
                """);
        }

        machines.AppendLine("""    <QemuNic Include="net0" Machine="first" Model="e1000" />""");
        machines.AppendLine("""    <QemuDevice Include="virtio-rng-pci" Machine="second" Properties="max-bytes=1024" />""");
        return machines.ToString();
    }

    private static string WriteProject(string directory, string packageReference, string items)
    {
        Directory.CreateDirectory(directory);
        var project = Path.Combine(directory, Path.GetFileName(directory) + ".csproj");
        File.WriteAllText(project, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
              </PropertyGroup>
              <ItemGroup>
                {packageReference}
              </ItemGroup>
              <ItemGroup>
            {items}
              </ItemGroup>
            </Project>
            """);
        return project;
    }

    private static Task<string> BuildAsync(string project, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken) =>
        DotnetAsync(["build", project, "-nodeReuse:false", "--disable-build-servers", "-tl:off", "-v:n", "-clp:NoSummary"],
            Path.GetDirectoryName(project)!, environment, cancellationToken);

    private static async Task<string> DotnetAsync(IReadOnlyList<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string> environment,
        CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment)
        {
            psi.Environment[key] = value;
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false);
        return process.ExitCode == 0
            ? output
            : throw new InvalidOperationException($"dotnet {string.Join(' ', arguments)} failed with exit code {process.ExitCode}:\n{output}");
    }

    private static string RepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var directory = new DirectoryInfo(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "QemuTestKit.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new BenchUsageException("run from the repository: QemuTestKit.sln not found");
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
