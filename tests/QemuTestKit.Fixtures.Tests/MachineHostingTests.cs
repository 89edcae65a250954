using System.Text.Json.Nodes;
using QemuTestKit.Fixtures.Host;
using QemuTestKit.Fixtures.Testing;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Fixtures.Tests;

/// <summary>
/// The fixtures run local machines themselves and leave other hosts to their own packages: this project references
/// QemuTestKit.Fixtures only, as a project that runs machines locally does, so a container machine must say which
/// package it needs, and nothing of Docker may be reachable from the fixtures.
/// </summary>
public sealed class MachineHostingTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-hosting-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void The_fixtures_reference_no_container_or_Docker_assembly()
    {
        typeof(MachineHost).Assembly.GetReferencedAssemblies().Select(a => a.Name).Should()
            .NotContain(n => n!.StartsWith("Testcontainers", StringComparison.Ordinal) || n.StartsWith("Docker.DotNet", StringComparison.Ordinal)
                || n == "QemuTestKit.Containers");
        AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetName().Name).Should().NotContain("QemuTestKit.Fixtures.Containers");
    }

    [Fact]
    public async Task A_container_machine_without_its_package_names_the_package_to_add_and_starts_nothing()
    {
        await using var machines = Host(MachineHosts.Container);

        var act = () => machines.StartAsync(new Scope(), "hello", cancellationToken: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<FixtureException>()).WithMessage(
            "machine 'hello' has Host=\"container\", which needs the package QemuTestKit.Fixtures.Containers: add it to the test project (dotnet add package QemuTestKit.Fixtures.Containers) and build again");
        machines.RunningMachines.Should().Be(0);
        Directory.Exists(Path.Combine(_root, "run")).Should().BeFalse("nothing was prepared or started");
    }

    [Fact]
    public async Task An_unknown_host_names_the_known_ones()
    {
        await using var machines = Host("cloud");

        var act = () => machines.StartAsync(new Scope(), "hello", cancellationToken: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<FixtureException>()).WithMessage(
            "machine 'hello' has Host=\"cloud\": expected local or container; fix the QemuMachine item and build again");
    }

    [Fact]
    public async Task A_registered_hosting_starts_the_machines_of_its_host()
    {
        var hosting = new RefusingHosting();
        MachineHostings.Register("refusing", hosting);
        await using var machines = Host("refusing");

        var act = () => machines.StartAsync(new Scope(), "hello", cancellationToken: TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<FixtureException>()).WithMessage("refused hello");
        hosting.CatalogsAsked.Should().Be(1, "the machine has a ready pattern: its ready state is prepared first, through the hosting's launcher");
        machines.RunningMachines.Should().Be(0);
    }

    private MachineHost Host(string host)
    {
        var guest = TestGuest.Load();
        var manifest = Path.Combine(_root, MachinesManifest.FileName);
        File.WriteAllText(manifest, new JsonObject
        {
            ["schemaVersion"] = 1,
            ["project"] = "/src/Guest.Tests/Guest.Tests.csproj",
            ["machines"] = new JsonArray(new JsonObject
            {
                ["name"] = "hello",
                ["prepare"] = false,
                ["host"] = host,
                ["spec"] = new JsonObject
                {
                    ["name"] = "hello",
                    ["machineType"] = "q35",
                    ["memoryMiB"] = 256,
                    ["kernel"] = guest.Kernel,
                    ["initrd"] = guest.Initrd,
                    ["append"] = guest.Append,
                    ["ready"] = new JsonObject { ["pattern"] = guest.ReadyPattern },
                },
            }),
        }.ToJsonString());
        return new MachineHost(new FixtureSettings { MaxMachines = 1 }, manifest, Path.Combine(_root, "results"), Path.Combine(_root, "run"));
    }

    /// <summary>A hosting whose launcher counts what it is asked and refuses to run anything.</summary>
    private sealed class RefusingHosting : IMachineHosting, IQemuLauncher
    {
        public int CatalogsAsked { get; private set; }

        public string Where => "nowhere";

        public IQemuLauncher LauncherFor(ManifestMachine machine) => this;

        public Task<QemuCatalog> CatalogAsync(MachineSpec spec, MachineStartOptions options, bool recording, CancellationToken cancellationToken)
        {
            CatalogsAsked++;
            throw new FixtureException($"refused {spec.Name}");
        }

        public Task<QemuMachine> LaunchAsync(MachineSpec spec, MachineStartOptions options, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("never reached: the catalog is refused first");

        public Task<ReadyState> UsableReadyStateAsync(MachineSpec spec, ReadyState ready, MachineStartOptions options, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("never reached: the catalog is refused first");
    }

    private sealed class Scope : ITestScope
    {
        public string Key { get; } = Guid.NewGuid().ToString("N");

        public string TestName => "Tests.Hosting";

        public CancellationToken CancellationToken => TestContext.Current.CancellationToken;

        public IReadOnlyList<string> FilterArguments => ["--filter-method", TestName];

        public void WriteLine(string line)
        {
        }

        public void Attach(string path, string description)
        {
        }
    }
}
