using System.Text.Json.Nodes;
using QemuTestKit.Containers;
using QemuTestKit.Fixtures;
using QemuTestKit.Fixtures.Testing;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Fixtures.Containers.Tests;

/// <summary>
/// The fixtures choose the host per machine from the build's manifest (<c>"host"</c>, <c>"image"</c>): one sample test,
/// unchanged, against a local machine and a container one, each recorded, checkpointed and kept as a bundle on failure.
/// This project references QemuTestKit.Fixtures.Containers as a user's does: the container hosting is found through it.
/// </summary>
public sealed class FixtureHostTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-ct-fixtures-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>What a user's test does with its machine: the same code whatever the host.</summary>
    private static async Task SampleTestAsync(GuestMachine machine, CancellationToken ct)
    {
        var result = await machine.ExecAsync("echo $((6*7)); cat /proc/cmdline", cancellationToken: ct);
        result.ExitCode.Should().Be(0);
        result.Output.Should().Contain("42").And.Contain("console=ttyS0");
        (await machine.CheckpointAsync("sample-mid", ct)).Should().NotBeNull();
        (await machine.ExecAsync("echo after-$((2+3))", cancellationToken: ct)).Output.Should().Contain("after-5");
    }

    /// <summary>The host's QEMU 7.2, the same build in the default image, and Debian 13's QEMU 10.0 in its image.</summary>
    [Theory]
    [InlineData(MachineHosts.Local, null)]
    [InlineData(MachineHosts.Container, MachineHosts.DefaultImage)]
    [InlineData(MachineHosts.Container, "qemutestkit/qemu:10")]
    public async Task The_same_sample_test_passes_with_host_local_and_host_container_on_each_QEMU_and_a_failure_keeps_a_bundle_that_replays(string host, string? image)
    {
        var ct = TestContext.Current.CancellationToken;
        var manifest = WriteManifest(host, image);
        var settings = new FixtureSettings { Record = true, Keep = KeepPolicy.Failed, MaxMachines = 1, BundleDirectory = Path.Combine(_root, "bundles") };
        await using var machines = new MachineHost(settings, manifest, Path.Combine(_root, "results"), Path.Combine(_root, "run"));
        var test = new Scope($"Sample.OnHost_{host}_{image?.Replace(':', '_').Replace('/', '_')}");

        var machine = await machines.StartAsync(test, "hello", cancellationToken: ct);
        string? containerId = (machine.Machine.Host as ContainerQemuHost)?.ContainerId;
        (containerId is not null).Should().Be(host == MachineHosts.Container);
        machine.IsRecording.Should().BeTrue();
        await SampleTestAsync(machine, ct);

        // As if an assertion after the sample had failed: the adapters call this with the test's outcome.
        await machines.EndTestAsync(test, TestOutcome.Failed, "failed on purpose");

        test.Lines.Should().Contain(l => l.StartsWith("qemutestkit: replay it:  qemutestkit replay ", StringComparison.Ordinal) && l.EndsWith("--from sample-mid", StringComparison.Ordinal));
        var bundle = Path.GetDirectoryName(test.Attachments.Should().Contain(a => a.EndsWith("bundle.json", StringComparison.Ordinal)).Which)!;
        await using var opened = await ReplayBundle.OpenAsync(bundle, ct);
        (await opened.VerifyAsync(ct)).IsIntact.Should().BeTrue();
        opened.Manifest.Test!.Outcome.Should().Be("Failed");
        opened.Manifest.Checkpoints.Select(c => c.Name).Should().Equal("sample-mid");
        if (containerId is null)
        {
            opened.Manifest.Qemu.ContainerImage.Should().BeNull();
            return;
        }

        opened.Manifest.Qemu.ContainerImage.Should().StartWith(image + "@sha256:");
        // The bundle names its image, and the replay finds it there (the QEMU 10 one only could replay there).
        var replayed = await Replayer.ReplayAsync(opened, new ReplayOptions { Host = new ContainerReplayHost() }, ct);
        replayed.Identical.Should().BeTrue(replayed.Verdict);
        replayed.Binary.Should().Contain(image!);
        test.Lines.Should().Contain(l => l.Contains($"runs in image {image}: booted it once there", StringComparison.Ordinal));
        using var client = DockerEngine.CreateClient(DockerEngine.Resolve(null));
        var inspect = () => client.Containers.InspectContainerAsync(containerId, ct);
        await inspect.Should().ThrowAsync<Docker.DotNet.DockerContainerNotFoundException>("the end of the test removes the container");
    }

    private string WriteManifest(string host, string? image)
    {
        var spec = GuestSpecs.Hello("hello");
        var root = new JsonObject
        {
            ["schemaVersion"] = 1,
            ["project"] = Path.Combine(_root, "Sample.csproj"),
            ["machines"] = new JsonArray(new JsonObject
            {
                ["name"] = "hello",
                ["qemuBinary"] = spec.QemuBinary,
                ["prepare"] = true,
                ["stateDirectory"] = null,
                ["specHash"] = ReadyState.HashOf(spec),
                ["host"] = host,
                ["image"] = image,
                ["spec"] = JsonNode.Parse(MachineSpecJson.Serialize(spec)),
            }),
        };
        var path = Path.Combine(_root, MachinesManifest.FileName);
        File.WriteAllText(path, root.ToJsonString());
        return path;
    }

    private sealed class Scope(string name) : ITestScope
    {
        public List<string> Lines { get; } = [];

        public List<string> Attachments { get; } = [];

        public string Key => name;

        public string TestName => name;

        public CancellationToken CancellationToken => TestContext.Current.CancellationToken;

        public IReadOnlyList<string> FilterArguments => ["--filter-method", name];

        public void WriteLine(string line)
        {
            lock (Lines)
            {
                Lines.Add(line);
            }

            TestContext.Current.TestOutputHelper?.WriteLine(line);
        }

        public void Attach(string path, string description) => Attachments.Add(path);
    }
}
