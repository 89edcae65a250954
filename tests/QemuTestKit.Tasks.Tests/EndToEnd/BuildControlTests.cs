using System.Diagnostics;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.EndToEnd;

/// <summary>Ctrl+C during a boot, and MSBuild on .NET Framework.</summary>
public sealed class BuildControlTests(ProductFeed feed)
{
    [Fact]
    public async Task Ctrl_C_during_a_boot_cancels_the_build_and_stops_QEMU()
    {
        var project = feed.CreateProject("cancel", $"""
                <QemuMachine Include="hello" MachineType="q35" Kernel="vmlinuz" Initrd="initramfs.cpio.gz"
                             Append="{feed.GuestAppend}" ReadyPattern="{feed.GuestReadyPattern}" ReadyTimeout="180" Prepare="true" />
            """);
        project.CopyGuest();
        var signalled = TimeSpan.Zero;
        var qemuWhileBooting = 0;

        // env resets SIGINT to its default: a test run started in the background may have it ignored, and an
        // ignored signal stays ignored in children.
        var result = await feed.RunAsync(project.Directory, ["build", project.ProjectFile, .. GeneratedProject.BuildFlags],
            TimeSpan.FromMinutes(3),
            async (process, output, ct) =>
            {
                while (!Dotnet.Snapshot(output).Contains("hello: booting", StringComparison.Ordinal))
                {
                    process.HasExited.Should().BeFalse($"the build ended before booting:\n{Dotnet.Snapshot(output)}");
                    await Task.Delay(100, ct);
                }

                // Wait until QEMU itself runs (the kernel path is in its command line), then press Ctrl+C.
                while ((qemuWhileBooting = QemuProcesses.Under(project.Directory).Count) == 0)
                {
                    await Task.Delay(100, ct);
                }

                using var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await kill.WaitForExitAsync(ct);
                var stopwatch = Stopwatch.StartNew();
                await process.WaitForExitAsync(ct);
                signalled = stopwatch.Elapsed;
            },
            prefix: ["env", "--default-signal=INT"]);

        qemuWhileBooting.Should().BeGreaterThan(0);
        result.Succeeded.Should().BeFalse(result.ToString());
        result.Diagnostics("QTK2015").Should().Contain(l => l.Contains("QemuMachine 'hello'", StringComparison.Ordinal), result.ToString());
        signalled.Should().BeLessThan(TimeSpan.FromSeconds(20), "cancellation stops QEMU at once, not after the boot");
        (await QemuProcesses.LeftUnderAsync(project.Directory, TimeSpan.FromSeconds(2))).Should().BeEmpty();
        File.Exists(project.StateImage("hello")).Should().BeFalse();
    }

    [Fact]
    public async Task MSBuild_on_dotnet_framework_gets_one_warning_and_nothing_runs()
    {
        var project = feed.CreateProject("netfx", """
                <QemuMachine Include="hello" MachineType="pc-q99" Memory="lots" Prepare="true" />
            """);

        // MSBuildRuntimeType is reserved; the targets read it through an internal property that tests can set.
        var result = await project.BuildAsync("-p:_QemuTestKitMSBuildRuntimeType=Full");

        result.Succeeded.Should().BeTrue(result.ToString());
        result.Diagnostics("QTK2016", "warning").Should().ContainSingle().Which.Should().StartWith(project.ProjectFile);
        result.Output.Should().NotContain("QTK1002").And.NotContain("QTK2001").And.NotContain("QemuTestKitCheck:");
        File.Exists(project.Manifest).Should().BeFalse();
    }
}
