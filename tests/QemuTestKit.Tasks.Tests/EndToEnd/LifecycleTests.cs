using System.Text.Json.Nodes;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.EndToEnd;

/// <summary>
/// A valid project through its life, with the real dotnet build and QEMU: the first build validates, prepares and
/// writes the manifest; a second build is a no-op for QEMU; touching the kernel prepares again; neither a design-time
/// build nor -p:QemuTestKitPrepare=false boots; dotnet clean removes the state images and the manifests.
/// </summary>
public sealed class LifecycleTests(ProductFeed feed)
{
    [Fact]
    public async Task A_valid_project_prepares_once_rebuilds_as_a_no_op_prepares_again_when_the_kernel_changes_and_cleans_up()
    {
        var project = feed.CreateProject("lifecycle", $"""
                <QemuMachine Include="hello" MachineType="q35" Cpu="max" Memory="256M" Kernel="vmlinuz" Initrd="initramfs.cpio.gz"
                             Append="{feed.GuestAppend}" ReadyPattern="{feed.GuestReadyPattern}" ReadyTimeout="180" Prepare="true" />
                <QemuMachine Include="plain" MachineType="pc" Memory="128MiB" Smp="2" Kernel="vmlinuz" />
                <QemuDisk Include="data.qcow2" Machine="plain" Interface="virtio" ReadOnly="true" />
                <QemuNic Include="net0" Machine="plain" Model="e1000" HostForwards="tcp:2222-:22" />
                <QemuDevice Include="virtio-rng-pci" Machine="plain" Properties="max-bytes=1024,period=1000" />
            """);
        var (kernel, _) = project.CopyGuest();
        await CreateDiskAsync(Path.Combine(project.Directory, "data.qcow2"));

        // 1. The first build boots "hello" once and saves its ready state; "plain" is validated, not prepared.
        var first = await project.BuildAsync("-p:QemuTestKitBootProgressSeconds=1");
        first.Succeeded.Should().BeTrue(first.ToString());
        first.Output.Should().Contain("hello: booting (q35, 256 MiB)").And.MatchRegex(@"hello: ready in \d+\.\d s, state saved");
        first.Output.Should().MatchRegex(@"hello: still booting after \d+ s; console: ", "a boot of several seconds reports every second at -v:n");
        first.Output.Should().NotContain("plain: booting");
        File.Exists(project.StateImage("hello")).Should().BeTrue();
        ReadyState.Load(Path.GetDirectoryName(project.StateImage("hello"))!).Should().NotBeNull();
        (await QemuProcesses.LeftUnderAsync(project.Directory, TimeSpan.FromSeconds(2))).Should().BeEmpty();

        var manifest = JsonNode.Parse(File.ReadAllText(project.Manifest))!;
        ((string?)manifest["configuration"]).Should().Be("Debug", "the fixtures print it in the command that reruns a test");
        var machines = manifest["machines"]!.AsArray();
        machines.Select(m => (string?)m!["name"]).Should().Equal("hello", "plain");
        var hello = machines[0]!;
        ((string?)hello["qemuVersion"]).Should().NotBeNullOrEmpty();
        ((string?)hello["qemuBinary"]).Should().StartWith("/");
        ((string?)hello["stateDirectory"]).Should().Be(Path.GetDirectoryName(project.StateImage("hello")));
        ((string?)hello["spec"]!["kernel"]).Should().Be(kernel, "paths in the manifest are absolute");
        ((string?)hello["specHash"]).Should().Be(ReadyState.Load(Path.GetDirectoryName(project.StateImage("hello"))!)!.SpecHash,
            "the manifest's spec is the one the ready state was prepared from");
        var plain = machines[1]!;
        ((bool?)plain["prepare"]).Should().BeFalse();
        ((int?)plain["spec"]!["memoryMiB"]).Should().Be(128);
        ((string?)plain["spec"]!["disks"]![0]!["path"]).Should().Be(Path.Combine(project.Directory, "data.qcow2"));
        ((string?)plain["spec"]!["disks"]![0]!["interface"]).Should().Be("virtio-blk-pci");
        ((string?)plain["spec"]!["nics"]![0]!["hostForwards"]![0]!["hostPort"]?.ToString()).Should().Be("2222");
        ((string?)plain["spec"]!["devices"]![0]!["properties"]!["period"]).Should().Be("1000");

        // 2. A second build does not touch QEMU's work: no boot, the same state image.
        var imageTime = File.GetLastWriteTimeUtc(project.StateImage("hello"));
        var imageHash = GeneratedProject.Sha256(project.StateImage("hello"));
        var manifestTime = File.GetLastWriteTimeUtc(project.Manifest);
        var second = await project.BuildAsync();
        second.Succeeded.Should().BeTrue(second.ToString());
        second.Output.Should().NotContain("booting");
        second.Output.Should().Contain("Skipping target \"QemuTestKitPrepare\" because all output files are up-to-date");
        File.GetLastWriteTimeUtc(project.StateImage("hello")).Should().Be(imageTime);
        GeneratedProject.Sha256(project.StateImage("hello")).Should().Be(imageHash);
        File.GetLastWriteTimeUtc(project.Manifest).Should().Be(manifestTime, "an unchanged manifest is not rewritten");

        // 3. A newer kernel is a new input: the machine is prepared again.
        File.SetLastWriteTimeUtc(kernel, DateTime.UtcNow);
        var third = await project.BuildAsync();
        third.Succeeded.Should().BeTrue(third.ToString());
        third.Output.Should().Contain("hello: booting (q35, 256 MiB)");
        File.GetLastWriteTimeUtc(project.StateImage("hello")).Should().BeAfter(imageTime);
        imageTime = File.GetLastWriteTimeUtc(project.StateImage("hello"));

        // 4. With the kernel newer again, neither a design-time build nor QemuTestKitPrepare=false boots, and neither
        //    deletes the ready state (IncrementalClean keeps it).
        File.SetLastWriteTimeUtc(kernel, DateTime.UtcNow);
        var designTime = await project.BuildAsync("-p:DesignTimeBuild=true");
        designTime.Succeeded.Should().BeTrue(designTime.ToString());
        designTime.Output.Should().NotContain("booting").And.NotContain("QemuTestKitCheck:");
        var noPrepare = await project.BuildAsync("-p:QemuTestKitPrepare=false");
        noPrepare.Succeeded.Should().BeTrue(noPrepare.ToString());
        noPrepare.Output.Should().NotContain("booting");
        File.GetLastWriteTimeUtc(project.StateImage("hello")).Should().Be(imageTime);
        (await QemuProcesses.LeftUnderAsync(project.Directory, TimeSpan.FromSeconds(2))).Should().BeEmpty();

        // 5. dotnet clean removes the state images, the spec files and both manifests.
        var clean = await project.CleanAsync();
        clean.Succeeded.Should().BeTrue(clean.ToString());
        File.Exists(project.StateImage("hello")).Should().BeFalse();
        File.Exists(project.Manifest).Should().BeFalse();
        Directory.Exists(project.QemuTestKitDirectory).Should().BeFalse();
    }

    [Fact]
    public async Task A_design_time_build_boots_nothing_and_writes_nothing()
    {
        var project = feed.CreateProject("designtime", $"""
                <QemuMachine Include="hello" MachineType="q35" Kernel="{feed.Kernel}" Initrd="{feed.Initrd}"
                             Append="{feed.GuestAppend}" ReadyPattern="{feed.GuestReadyPattern}" Prepare="true" />
            """);

        var result = await project.BuildAsync("-p:DesignTimeBuild=true");

        result.Succeeded.Should().BeTrue(result.ToString());
        result.Output.Should().NotContain("booting").And.NotContain("QemuTestKitCheck:").And.NotContain("QemuTestKitPrepare:");
        File.Exists(project.StateImage("hello")).Should().BeFalse();
        File.Exists(project.Manifest).Should().BeFalse();
        Directory.Exists(project.QemuTestKitDirectory).Should().BeFalse();
        QemuProcesses.Under(project.Directory).Should().BeEmpty();
    }

    private static async Task CreateDiskAsync(string path)
    {
        using var process = System.Diagnostics.Process.Start("qemu-img", ["create", "-q", "-f", "qcow2", path, "16M"]);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        process.ExitCode.Should().Be(0);
    }
}
