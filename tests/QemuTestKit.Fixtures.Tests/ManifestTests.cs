using QemuTestKit.Fixtures.Manifest;

namespace QemuTestKit.Fixtures.Tests;

public sealed class ManifestTests
{
    private const string OneMachine = """
        {
          "schemaVersion": 1,
          "project": "/src/Guest.Tests/Guest.Tests.csproj",
          "configuration": "Release",
          "machines": [
            {
              "name": "hello",
              "qemuBinary": "/usr/bin/qemu-system-x86_64",
              "prepare": true,
              "stateDirectory": "/src/Guest.Tests/obj/qemutestkit/hello",
              "host": "container",
              "image": "qemutestkit/qemu:local",
              "record": false,
              "spec": { "name": "hello", "machineType": "q35", "memoryMiB": 512 }
            }
          ]
        }
        """;

    [Fact]
    public void A_manifest_gives_each_machine_with_its_spec_and_choices()
    {
        var manifest = ManifestFile.Parse(OneMachine, "m.json");

        var hello = manifest.Get("hello");
        hello.Spec.MachineType.Should().Be("q35");
        hello.Spec.MemoryMiB.Should().Be(512);
        hello.Spec.SerialConsoles.Should().Be(1, "omitted fields keep the spec's defaults");
        hello.StateDirectory.Should().Be("/src/Guest.Tests/obj/qemutestkit/hello");
        hello.Host.Should().Be("container");
        hello.Image.Should().Be("qemutestkit/qemu:local");
        hello.Record.Should().BeFalse();
        manifest.Content.Project.Should().Be("/src/Guest.Tests/Guest.Tests.csproj");
        manifest.Content.Configuration.Should().Be("Release");
    }

    [Fact]
    public void An_unknown_machine_is_an_error_listing_the_declared_ones()
    {
        var manifest = ManifestFile.Parse(OneMachine, "m.json");

        var act = () => manifest.Get("helo");

        act.Should().Throw<FixtureException>().WithMessage("no machine 'helo' in m.json; the project declares: hello");
    }

    [Fact]
    public void A_missing_manifest_says_how_to_get_one()
    {
        var act = () => ManifestFile.Load("/nonexistent/qemutestkit.machines.json");

        act.Should().Throw<FixtureException>().WithMessage("*does not exist*reference the QemuTestKit.Tasks package, declare QemuMachine items*");
    }

    [Theory]
    [InlineData("{", "*is not valid JSON*rebuild*")]
    [InlineData("[]", "*not a QemuTestKit machines manifest*")]
    [InlineData("""{"schemaVersion": 2, "machines": []}""", "*schema version 2, newer than*same QemuTestKit version*")]
    [InlineData("""{"machines": []}""", "*no valid schemaVersion*")]
    [InlineData("""{"schemaVersion": 1, "machines": [{"name": "a"}]}""", "*machines[0].spec is missing*")]
    [InlineData("""{"schemaVersion": 1, "machines": [{"spec": {}}]}""", "*machines[0].name is missing*")]
    [InlineData("""{"schemaVersion": 1, "machines": [{"name": "a", "spec": {"memoryMiB": "lots"}}]}""", "*machines[0].spec is not a machine spec*")]
    [InlineData("""{"schemaVersion": 1, "machines": [7]}""", "m.json: machines[0] is not an object; rebuild*")]
    [InlineData("""{"schemaVersion": 1, "machines": [{"name": "a", "prepare": "yes", "spec": {"name": "a", "machineType": "q35"}}]}""",
        "m.json: machines[0].prepare has a value of the wrong type; rebuild*")]
    [InlineData("""{"schemaVersion": 1, "machines": {}}""", "m.json: machines has a value of the wrong type; rebuild*")]
    [InlineData("""{"schemaVersion": 1, "schemaVersion": 1, "machines": []}""", "m.json is not valid JSON*rebuild*")]
    public void A_damaged_manifest_is_one_clear_error(string json, string message)
    {
        var act = () => ManifestFile.Parse(json, "m.json");

        act.Should().Throw<FixtureException>().WithMessage(message);
    }
}
