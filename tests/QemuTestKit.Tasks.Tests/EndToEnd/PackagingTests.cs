using System.IO.Compression;
using System.Xml.Linq;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.EndToEnd;

/// <summary>What dotnet pack put into the local feed: the whole product, and a task package a consumer only references.</summary>
public sealed class PackagingTests(ProductFeed feed)
{
    [Fact]
    public void The_feed_holds_the_whole_product()
    {
        var packages = Directory.GetFiles(feed.Feed, "*.nupkg").Select(Path.GetFileName).ToArray();

        foreach (var id in ProductFeed.PackedProjects)
        {
            packages.Should().Contain($"{id}.{feed.TasksVersion}.nupkg");
        }
    }

    [Fact]
    public void The_task_package_carries_its_dependencies_next_to_the_task_and_no_MSBuild()
    {
        using var package = ZipFile.OpenRead(Path.Combine(feed.Feed, $"QemuTestKit.Tasks.{feed.TasksVersion}.nupkg"));
        var entries = package.Entries.Select(e => e.FullName).ToArray();

        entries.Should().Contain(
        [
            "tasks/net8.0/QemuTestKit.Tasks.dll", "tasks/net8.0/QemuTestKit.Machines.dll", "tasks/net8.0/QemuTestKit.Introspection.dll",
            "build/QemuTestKit.Tasks.props", "build/QemuTestKit.Tasks.targets",
            "buildTransitive/QemuTestKit.Tasks.props", "buildTransitive/QemuTestKit.Tasks.targets",
        ]);
        entries.Should().NotContain(e => e.Contains("Microsoft.Build", StringComparison.OrdinalIgnoreCase), "MSBuild brings its own assemblies");
        entries.Should().NotContain(e => e.StartsWith("lib/", StringComparison.Ordinal) || e.StartsWith("ref/", StringComparison.Ordinal),
            "a consumer compiles against nothing of the task package");

        var nuspec = Nuspec(package);
        var ns = nuspec.Root!.Name.Namespace;
        nuspec.Descendants(ns + "developmentDependency").Single().Value.Should().Be("true");
        nuspec.Descendants(ns + "dependency").Should().BeEmpty("the task's dependencies travel inside the package");
    }

    [Fact]
    public void The_CLI_is_a_dotnet_tool_named_qemutestkit()
    {
        using var package = ZipFile.OpenRead(Path.Combine(feed.Feed, $"QemuTestKit.Cli.{feed.TasksVersion}.nupkg"));
        var settings = package.Entries.Single(e => e.FullName.EndsWith("DotnetToolSettings.xml", StringComparison.Ordinal));
        using var stream = settings.Open();
        XDocument.Load(stream).Descendants("Command").Single().Attribute("Name")!.Value.Should().Be("qemutestkit");
        var nuspec = Nuspec(package);
        nuspec.Descendants(nuspec.Root!.Name.Namespace + "packageType").Select(p => p.Attribute("name")?.Value).Should().Contain("DotnetTool");
    }

    [Fact]
    public void The_CLI_ships_one_ReadyToRun_package_per_RID_that_its_pointer_package_names()
    {
        // Without ahead-of-time code the replay CLI spent ~0.1 s compiling itself before its first line (a replay's
        // whole fixed cost is meant to stay under 0.5 s).
        using var pointer = ZipFile.OpenRead(Path.Combine(feed.Feed, $"{ProductFeed.CliProject}.{feed.TasksVersion}.nupkg"));
        var settings = pointer.Entries.Single(e => e.FullName.EndsWith("DotnetToolSettings.xml", StringComparison.Ordinal));
        using (var stream = settings.Open())
        {
            XDocument.Load(stream).Descendants("RuntimeIdentifierPackage").Select(p => (p.Attribute("RuntimeIdentifier")?.Value, p.Attribute("Id")?.Value))
                .Should().BeEquivalentTo(ProductFeed.CliRuntimeIdentifiers.Select(rid => ((string?)rid, (string?)$"{ProductFeed.CliProject}.{rid}")));
        }

        foreach (var rid in ProductFeed.CliRuntimeIdentifiers)
        {
            using var package = ZipFile.OpenRead(Path.Combine(feed.Feed, $"{ProductFeed.CliProject}.{rid}.{feed.TasksVersion}.nupkg"));
            var entry = package.Entries.Single(e => e.FullName == $"tools/net10.0/{rid}/qemutestkit.dll");
            using var copy = new MemoryStream();
            using (var source = entry.Open())
            {
                source.CopyTo(copy);
            }

            copy.Position = 0;
            using var reader = new System.Reflection.PortableExecutable.PEReader(copy);
            reader.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size.Should().BeGreaterThan(0, $"the {rid} package's qemutestkit.dll must be ReadyToRun code");
        }
    }

    [Fact]
    public async Task The_CLI_installs_from_the_feed_as_a_dotnet_tool_and_runs()
    {
        var toolPath = Path.Combine(feed.Root, "tool-" + Guid.NewGuid().ToString("N")[..8]);
        var install = await Dotnet.RunAsync(["tool", "install", ProductFeed.CliProject, "--tool-path", toolPath, "--version", feed.TasksVersion], feed.Root, feed.Environment, TimeSpan.FromMinutes(3), cancellationToken: TestContext.Current.CancellationToken);
        // The feed's nuget.config in feed.Root maps QemuTestKit.* to the local feed.
        install.Succeeded.Should().BeTrue($"dotnet tool install picks this host's RID package through the pointer package:\n{install}");

        var psi = new System.Diagnostics.ProcessStartInfo(Path.Combine(toolPath, "qemutestkit")) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--help");
        using var tool = System.Diagnostics.Process.Start(psi)!;
        var output = tool.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errors = tool.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await tool.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromMinutes(1), TestContext.Current.CancellationToken);
        (await output).Should().Contain("replay", $"the installed tool prints its commands (exit code {tool.ExitCode}, stderr: {await errors})");
    }

    [Fact]
    public void Every_package_packs_without_warnings_and_carries_license_readme_icon_and_repository()
    {
        feed.PackWarnings.Should().BeEmpty("dotnet pack of the product must not warn (it warned 'missing a readme' once per package)");

        foreach (var id in ProductFeed.PackedProjects)
        {
            using var package = ZipFile.OpenRead(Path.Combine(feed.Feed, $"{id}.{feed.TasksVersion}.nupkg"));
            var nuspec = Nuspec(package);
            var ns = nuspec.Root!.Name.Namespace;
            string? Element(string name) => nuspec.Descendants(ns + name).SingleOrDefault()?.Value;

            var license = nuspec.Descendants(ns + "license").SingleOrDefault();
            license.Should().NotBeNull(id);
            license!.Attribute("type")?.Value.Should().Be("expression", id);
            license.Value.Should().Be("MIT", id);
            Element("projectUrl").Should().StartWith("https://", id);
            nuspec.Descendants(ns + "repository").Single().Attribute("url")?.Value.Should().StartWith("https://", id);
            Element("tags").Should().Contain("qemu", id);
            var readme = Element("readme");
            readme.Should().NotBeNullOrEmpty(id);
            package.Entries.Select(e => e.FullName).Should().Contain([readme!, Element("icon")!], $"{id} names its readme and icon, so it must hold them");
        }
    }

    [Fact]
    public void Libraries_carry_their_symbols_inside_the_assembly()
    {
        using var package = ZipFile.OpenRead(Path.Combine(feed.Feed, $"QemuTestKit.Machines.{feed.TasksVersion}.nupkg"));
        var entry = package.Entries.Single(e => e.FullName == "lib/net8.0/QemuTestKit.Machines.dll");
        using var stream = new MemoryStream();
        using (var source = entry.Open())
        {
            source.CopyTo(stream);
        }

        stream.Position = 0;
        using var reader = new System.Reflection.PortableExecutable.PEReader(stream);
        reader.ReadDebugDirectory().Should().Contain(d => d.Type == System.Reflection.PortableExecutable.DebugDirectoryEntryType.EmbeddedPortablePdb,
            "stack traces of a package user show file and line without a symbol server");
    }

    private static XDocument Nuspec(ZipArchive package)
    {
        using var stream = package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
        return XDocument.Load(stream);
    }
}
