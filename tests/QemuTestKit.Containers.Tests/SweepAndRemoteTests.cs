using System.Diagnostics;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Containers.Tests;

public sealed class SweepAndRemoteTests(ContainerGuestFixture fixture) : IClassFixture<ContainerGuestFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_killed_test_host_leaves_no_container_after_the_next_start_up_sweep()
    {
        var idFile = Path.Combine(fixture.Root, "child-container-id");
        // The child is this test program running only ChildHost's test, which starts a machine and waits to be killed.
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(typeof(SweepAndRemoteTests).Assembly.Location);
        psi.ArgumentList.Add("-method");
        psi.ArgumentList.Add("*" + nameof(ChildHost.Starts_a_machine_and_waits_to_be_killed_when_run_as_the_child_of_the_sweep_test));
        psi.Environment[ChildHost.Variable] = idFile;
        using var child = Process.Start(psi)!;
        _ = child.StandardOutput.ReadToEndAsync(Ct);
        _ = child.StandardError.ReadToEndAsync(Ct);
        string? id = null;
        for (var waited = 0; waited < 1200 && id is null; waited++)
        {
            child.HasExited.Should().BeFalse("the child test host should be waiting with a machine running");
            id = File.Exists(idFile) ? File.ReadAllText(idFile) : null;
            await Task.Delay(100, Ct);
        }

        id.Should().NotBeNull("the child started a container machine within 120 s");
        child.Kill(entireProcessTree: true); // SIGKILL: no disposal runs in the child
        await child.WaitForExitAsync(Ct);

        using var client = DockerEngine.CreateClient(DockerEngine.Resolve(null));
        (await client.Containers.InspectContainerAsync(id!, Ct)).Should().NotBeNull("nothing removed the container of the killed host yet");
        var removed = await ContainerSweeper.SweepAsync(null, Ct);
        removed.Should().Contain(id);
        var act = () => client.Containers.InspectContainerAsync(id!, Ct);
        await act.Should().ThrowAsync<Docker.DotNet.DockerContainerNotFoundException>();
    }

    [Fact]
    public async Task A_machine_runs_on_a_remote_engine_reached_over_tcp_through_DOCKER_HOST_style_endpoint()
    {
        var remote = new Uri(Environment.GetEnvironmentVariable("QTK_REMOTE_DOCKER_HOST") ?? "tcp://127.0.0.1:2375");
        await using var machine = await fixture.NormalReady.StartAsync(fixture.Spec, new MachineStartOptions { Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image with { DockerEndpoint = remote }) }, Ct);

        machine.Host!.Description.Should().Contain(remote.ToString().TrimEnd('/'));
        var result = await machine.ExecAsync("echo remote-$((40+2))", cancellationToken: Ct);
        result.Output.Should().Contain("remote-42");
    }
}

/// <summary>The child half of the kill test: does its work only in the child process the test starts.</summary>
public sealed class ChildHost
{
    public const string Variable = "QTK_SWEEP_CHILD";

    [Fact]
    public async Task Starts_a_machine_and_waits_to_be_killed_when_run_as_the_child_of_the_sweep_test()
    {
        var idFile = Environment.GetEnvironmentVariable(Variable);
        if (idFile is null)
        {
            return; // in the test run itself there is nothing to do: the sweep test runs this in a child it kills
        }

        var guest = QemuTestKit.Machines.Tests.Support.TestGuest.Load();
        var spec = new QemuTestKit.Machines.Specs.MachineSpec
        {
            Name = "ct-child",
            MachineType = "q35",
            MemoryMiB = 128,
            Kernel = guest.Kernel,
            Initrd = guest.Initrd,
            Append = guest.Append,
        };
        var machine = await QemuMachine.StartAsync(spec, new MachineStartOptions { Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image) }, TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(idFile, ((ContainerQemuHost)machine.Host!).ContainerId, TestContext.Current.CancellationToken);
        await Task.Delay(Timeout.Infinite, TestContext.Current.CancellationToken);
        GC.KeepAlive(machine);
    }
}
