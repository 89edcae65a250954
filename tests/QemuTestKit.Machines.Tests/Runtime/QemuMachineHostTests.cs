using System.Globalization;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Runtime;

/// <summary>A machine started on this host reaches its QEMU only through a <see cref="LocalQemuHost"/>, like any other host.</summary>
public sealed class QemuMachineHostTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-local-host-").FullName;
    private QemuCatalog _catalog = null!;

    public async ValueTask InitializeAsync() =>
        _catalog = await new CatalogCache(Path.Combine(_root, "cache")).GetAsync("qemu-system-x86_64", TestContext.Current.CancellationToken);

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_local_machine_is_hosted_by_its_qemu_process_and_sees_it_exit_after_the_guest_powers_off()
    {
        var ct = TestContext.Current.CancellationToken;
        int pid;
        string runDirectory;
        await using (var machine = await QemuMachine.StartAsync(GuestSpecs.Hello("local-host"), new MachineStartOptions { Catalog = _catalog }, ct))
        {
            pid = machine.ProcessId;
            runDirectory = machine.RunDirectoryPath;
            var host = machine.Host.Should().BeOfType<LocalQemuHost>().Subject;
            host.ProcessId.Should().BePositive().And.Be(pid);
            (await File.ReadAllTextAsync(Path.Combine(runDirectory, RunDirectory.PidFileName), ct)).Trim()
                .Should().Be(pid.ToString(CultureInfo.InvariantCulture), "a sweep after a crash kills the pid the host started");
            Path.GetFileName(new FileInfo($"/proc/{pid}/exe").LinkTarget).Should().StartWith("qemu-system-x86_64", "setpriv execs QEMU in its own process");
            new DirectoryInfo($"/proc/{pid}/cwd").LinkTarget.Should().Be(runDirectory);
            host.SharesFileSystem.Should().BeTrue("a screendump QEMU writes lands in this host's run directory");
            host.QemuBuild.Should().BeNull("the binary is on this host, where a bundle hashes it");

            await machine.WaitUntilReadyAsync(ct);
            machine.HasExited.Should().BeFalse();
            machine.ExitCode.Should().BeNull();

            await machine.SendLineAsync("poweroff -f", ct);
            (await host.WaitForExitAsync(TimeSpan.FromSeconds(120), ct)).Should().Be(0, "-no-reboot turns the guest's power-off into QEMU's clean exit");
            machine.HasExited.Should().BeTrue();
            machine.ExitCode.Should().Be(0);
            host.Description.Should().Contain(pid.ToString(CultureInfo.InvariantCulture));
        }

        Directory.Exists($"/proc/{pid}").Should().BeFalse();
        Directory.Exists(runDirectory).Should().BeFalse("the run directory goes with the machine unless it is kept");
    }

    [Fact]
    public async Task Disposing_a_running_local_machine_ends_its_qemu_and_keeps_the_run_directory_when_asked()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new MachineStartOptions { Catalog = _catalog, Paused = true, KeepRunDirectory = true, RunRoot = Path.Combine(_root, "runs") };
        int pid;
        string runDirectory;
        await using (var machine = await QemuMachine.StartAsync(GuestSpecs.Hello("kept-local"), options, ct))
        {
            pid = machine.ProcessId;
            runDirectory = machine.RunDirectoryPath;
            machine.HasExited.Should().BeFalse();
        }

        Directory.Exists($"/proc/{pid}").Should().BeFalse("disposal ends QEMU through its host");
        Directory.Exists(runDirectory).Should().BeTrue();
        File.Exists(Path.Combine(runDirectory, RunDirectory.StderrLogName)).Should().BeTrue("QEMU's stderr streams to the run's log as it runs");
    }
}
