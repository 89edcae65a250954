using System.Text.Json.Nodes;
using Microsoft.Build.Utilities;
using QemuTestKit.Tasks.Diagnostics;
using QemuTestKit.Tasks.Items;
using QemuTestKit.Tasks.Tests.Support;

using static QemuTestKit.Tasks.Tests.Support.TaskItems;

namespace QemuTestKit.Tasks.Tests.Unit;

/// <summary>Host and Image on QemuMachine: read, checked, and written into the manifest; container machines are not booted by the build.</summary>
public sealed class HostMetadataTests(ProductFeed feed) : IDisposable
{
    private const string Project = "/work/p/p.csproj";
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-tasks-host-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Host_defaults_to_local_and_a_container_gets_the_default_image()
    {
        var reader = new ItemReader(Project);
        var machines = reader.Read(
            [Item("a", ("MachineType", "q35")), Item("b", ("MachineType", "q35"), ("Host", "Container")),
                Item("c", ("MachineType", "q35"), ("Host", "container"), ("Image", "registry.example/qemu:8.2")), Item("d", ("MachineType", "q35"), ("Host", "LOCAL"))],
            [], [], []);

        reader.Diagnostics.Should().BeEmpty();
        machines.Select(m => (m.Host, m.Image)).Should().Equal(
            ("local", null), ("container", "qemutestkit/qemu:local"), ("container", "registry.example/qemu:8.2"), ("local", null));
    }

    [Fact]
    public void A_bad_host_is_QTK2017_with_a_near_miss_and_an_image_on_a_local_machine_is_a_warning()
    {
        var reader = new ItemReader(Project);
        var machines = reader.Read(
            [Item("m", ("MachineType", "q35"), ("Host", "contianer")), Item("n", ("MachineType", "q35"), ("Image", "qemutestkit/qemu:local"))], [], [], []);

        reader.Diagnostics.Select(d => (d.Code, d.Metadata, d.IsError)).Should().Equal(
            (TaskErrorCodes.UnknownHost, "Host", true), (TaskErrorCodes.UnknownMetadata, "Image", false));
        reader.Diagnostics[0].Message.Should().Be(
            "QemuMachine 'm', metadata Host: 'contianer' is not where a machine can run: use 'local' (QEMU on this host) or 'container' (QEMU in the image named by Image); did you mean 'container'?");
        machines[0].Unreadable.Should().Contain((machines[0].Item, "Host"));
    }

    [Fact]
    public void The_manifest_carries_host_and_image_and_the_build_prepares_only_local_machines()
    {
        File.WriteAllText(Path.Combine(_root, "p.csproj"), "<Project />");
        var engine = new FakeBuildEngine();
        var task = new CheckQemuMachines
        {
            BuildEngine = engine,
            Machines =
            [
                Item("here", ("MachineType", "q35"), ("ReadyPattern", "READY"), ("Prepare", "true")),
                Item("there", ("MachineType", "q35"), ("ReadyPattern", "READY"), ("Prepare", "true"), ("Host", "container"), ("Image", "qemutestkit/qemu:local")),
            ],
            ProjectFile = Path.Combine(_root, "p.csproj"),
            StateRoot = Path.Combine(_root, "state"),
            CacheDirectory = feed.CacheDirectory,
        };

        task.Execute().Should().BeTrue(string.Join("\n", engine.Errors.Select(e => e.Message)));

        var machines = JsonNode.Parse(File.ReadAllText(task.ManifestFile))!["machines"]!.AsArray();
        ((int?)JsonNode.Parse(File.ReadAllText(task.ManifestFile))!["schemaVersion"]).Should().Be(1);
        ((string?)machines[0]!["host"]).Should().Be("local");
        ((string?)machines[0]!["image"]).Should().BeNull();
        ((string?)machines[0]!["stateDirectory"]).Should().NotBeNull();
        ((string?)machines[1]!["host"]).Should().Be("container");
        ((string?)machines[1]!["image"]).Should().Be("qemutestkit/qemu:local");
        ((bool?)machines[1]!["prepare"]).Should().BeTrue("the declaration is kept");
        ((string?)machines[1]!["stateDirectory"]).Should().BeNull("the fixtures prepare a container machine in its image");
        task.PrepareInputs.Should().OnlyContain(i => i.GetMetadata("Machine") == "here");
        task.MachineStates.Single(m => m.ItemSpec == "there").GetMetadata("Prepare").Should().Be("false");
    }
}
