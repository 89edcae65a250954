using System.Text.Json.Nodes;
using Microsoft.Build.Utilities;
using QemuTestKit.Tasks.Tests.Support;

using static QemuTestKit.Tasks.Tests.Support.TaskItems;

namespace QemuTestKit.Tasks.Tests.Unit;

/// <summary>Record on QemuMachine: carried into the manifest for the fixtures, and into what the build prepares.</summary>
public sealed class RecordMetadataTests(ProductFeed feed) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-tasks-record-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Record_false_reaches_the_manifest_and_the_preparation_and_a_change_of_it_prepares_again()
    {
        File.WriteAllText(Path.Combine(_root, "p.csproj"), "<Project />");
        var engine = new FakeBuildEngine();
        var task = new CheckQemuMachines
        {
            BuildEngine = engine,
            Machines =
            [
                Item("plain", ("MachineType", "q35"), ("ReadyPattern", "READY"), ("Prepare", "true")),
                Item("unrecorded", ("MachineType", "q35"), ("ReadyPattern", "READY"), ("Prepare", "true"), ("Record", "false")),
            ],
            ProjectFile = Path.Combine(_root, "p.csproj"),
            StateRoot = Path.Combine(_root, "state"),
            CacheDirectory = feed.CacheDirectory,
        };

        task.Execute().Should().BeTrue(string.Join("\n", engine.Errors.Select(e => e.Message)));

        var machines = JsonNode.Parse(File.ReadAllText(task.ManifestFile))!["machines"]!.AsArray();
        ((bool?)machines[0]!["record"]).Should().BeNull("no Record: the tests follow the run");
        ((bool?)machines[1]!["record"]).Should().BeFalse();
        task.PrepareInputs.Where(i => i.GetMetadata("Machine") == "unrecorded").Should().OnlyContain(i => i.GetMetadata("Record") == "false");
        task.PrepareInputs.Where(i => i.GetMetadata("Machine") == "plain").Should().OnlyContain(i => i.GetMetadata("Record") == string.Empty);
        var hashLines = task.MachineStates.ToDictionary(m => m.ItemSpec, m => m.GetMetadata("HashLine"));
        hashLines["unrecorded"].Should().EndWith(" unrecorded", "the hash file is an input of the prepare step: a changed Record prepares the machine again");
        hashLines["plain"].Should().NotContain("unrecorded");
    }
}
