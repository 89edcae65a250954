using Docker.DotNet.Models;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Containers.Tests;

public sealed class ContainerMachineTests(ContainerGuestFixture fixture) : IClassFixture<ContainerGuestFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_machine_runs_in_a_container_from_the_ready_snapshot_answers_ExecAsync_and_publishes_ports_on_127_0_0_1_only()
    {
        await using var machine = await fixture.NormalReady.StartAsync(fixture.Spec, new MachineStartOptions { Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image) }, Ct);

        machine.Host.Should().NotBeNull();
        machine.Host!.Description.Should().Contain(ContainerGuestFixture.Image.Name);
        machine.ProcessId.Should().Be(0, "QEMU runs in the container, not as a process of this host");
        var result = await machine.ExecAsync("echo $((6*7)); uname -m", cancellationToken: Ct);
        result.ExitCode.Should().Be(0);
        result.Output.Should().Contain("42").And.Contain("x86_64");

        var id = ((ContainerQemuHost)machine.Host).ContainerId;
        using var client = DockerEngine.CreateClient(DockerEngine.Resolve(null));
        var inspect = await client.Containers.InspectContainerAsync(id, Ct);
        inspect.Config!.Labels.Should().ContainKey(ContainerSweeper.OwnerLabel).WhoseValue.Should().Be(ContainerSweeper.ThisOwner);
        var published = inspect.NetworkSettings!.Ports!.Where(p => p.Value is not null).SelectMany(p => p.Value!).ToArray();
        published.Should().HaveCount(2, "QMP and one serial port");
        published.Should().OnlyContain(b => b.HostIP == "127.0.0.1");
        inspect.HostConfig!.Sysctls.Should().Contain("net.ipv4.tcp_wmem", "4096 4194304 4194304",
            "a console's socket must not fill while a recording writes to it (A_recorded_burst_of_console_output_replays_identically_in_the_image)");

        await machine.DisposeAsync();
        var act = () => client.Containers.InspectContainerAsync(id, Ct);
        await act.Should().ThrowAsync<Docker.DotNet.DockerContainerNotFoundException>("disposal removes the container");
    }

    [Fact]
    public async Task A_container_start_sweeps_the_run_directory_a_killed_run_left_under_its_root()
    {
        var runRoot = Directory.CreateDirectory(Path.Combine(fixture.Root, "sweep-runs")).FullName;
        var stale = Directory.CreateDirectory(Path.Combine(runRoot, "ct-guest-0badc0de")).FullName;
        await File.WriteAllTextAsync(Path.Combine(stale, "state.qcow2"), "what a killed run left", Ct);
        using (var dead = System.Diagnostics.Process.Start("true")!)
        {
            await dead.WaitForExitAsync(Ct);
            await File.WriteAllTextAsync(Path.Combine(stale, RunDirectory.OwnerFileName), $"{dead.Id} 12345\n", Ct);
        }

        await using (var machine = await fixture.NormalReady.StartAsync(fixture.Spec, new MachineStartOptions { RunRoot = runRoot, Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image) }, Ct))
        {
            Directory.Exists(stale).Should().BeFalse("the first run directory this process makes under a root sweeps the root first");
            (await machine.ExecAsync("echo swept", cancellationToken: Ct)).Output.Should().Be("swept");
        }
    }

    [Fact]
    public async Task Preparing_a_state_for_recording_in_the_image_leaves_no_run_directory_behind()
    {
        // Both QEMUs of the preparation (the boot and the rrsnapshot rebase) keep their run directories for the store.
        var runRoot = Directory.CreateDirectory(Path.Combine(fixture.Root, "prepare-runs")).FullName;

        var state = await ReadyState.PrepareAsync(fixture.Spec, Path.Combine(fixture.Root, "state-in-image"),
            new MachineStartOptions { IcountShift = 5, RunRoot = runRoot, Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image) }, Ct);

        state.ForRecording.Should().BeTrue();
        File.Exists(state.StateImage).Should().BeTrue();
        Directory.EnumerateFileSystemEntries(runRoot).Should().BeEmpty("the boot's and the rebase's run directories are removed once the state is stored");
    }

    [Theory]
    [InlineData(MachineHosts.Local)]
    [InlineData(MachineHosts.Container)]
    public async Task The_same_test_passes_with_host_local_and_host_container(string host)
    {
        var local = new MachineStartOptions { Catalog = fixture.Catalog };
        await using var machine = host == MachineHosts.Local
            ? await fixture.NormalReady.StartAsync(fixture.Spec, local, Ct)
            : await fixture.NormalReady.StartAsync(fixture.Spec, local with { Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image) }, Ct);

        var result = await machine.ExecAsync("cat /proc/cmdline", cancellationToken: Ct);
        result.ExitCode.Should().Be(0);
        result.Output.Should().Contain("console=ttyS0");
        await machine.SaveSnapshotAsync("mid", Ct);
        await machine.ExecAsync("touch /tmp/after-mid", cancellationToken: Ct);
        await machine.LoadSnapshotAsync("mid", Ct);
        (await machine.ExecAsync("test -e /tmp/after-mid", cancellationToken: Ct)).ExitCode.Should().NotBe(0);
    }

    /// <summary>
    /// A guest that prints a burst faster than its console's TCP peer acknowledges: with the kernel's 16 KiB send
    /// buffer QEMU's non-blocking write failed, the UART retried it from QEMU's main loop, and the recording did not
    /// replay ("Missing character write event in the replay log", 5 of 8 runs). TcpEndpoints.SendBuffers prevents it.
    /// </summary>
    [Fact]
    public async Task A_recorded_burst_of_console_output_replays_identically_in_the_image()
    {
        string bundle;
        await using (var machine = await fixture.Ready.StartAsync(fixture.Spec,
            new MachineStartOptions { Mode = RunMode.Record, Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image) }, Ct))
        {
            var burst = await machine.ExecAsync("seq 1 4000", cancellationToken: Ct);
            burst.Output.EndsWith("\n4000", StringComparison.Ordinal).Should().BeTrue("seq printed its 4,000 lines");
            bundle = await machine.KeepAsBundleAsync(Path.Combine(fixture.Root, "bundles", "burst"), new BundleTest("burst"), Ct);
        }

        await using var opened = await ReplayBundle.OpenAsync(bundle, Ct);
        var replay = await Replayer.ReplayAsync(opened, new ReplayOptions { Host = new ContainerReplayHost() }, Ct);
        replay.Identical.Should().BeTrue(replay.Verdict);
    }

    /// <summary>
    /// Where the recorded-run test runs QEMU: this host's QEMU 7.2 and the 7.2 image. Not the QEMU 10 image: its replays
    /// of this recording stall now and then (from the checkpoint 3 of 21, from ready 1 of 21; docs/cli.md, "The 7.2
    /// workarounds on QEMU 10.0"), which would make this test fail as often.
    /// </summary>
    public static TheoryData<string> Places => [MachineHosts.Local, ContainerGuestFixture.Image.Name];

    /// <summary>
    /// Recording, checkpoints, bundles and the one replayer, once per place QEMU runs, through the same calls: only the
    /// launcher (and the replay host) differ. A container's bundle names its image, and replays in it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Places))]
    public async Task A_recorded_run_is_kept_as_a_bundle_and_replays_identically_from_its_start_and_its_checkpoint_where_it_ran(string place)
    {
        var image = place == MachineHosts.Local ? null : new ContainerImage(place);
        var launcher = image is null ? null : new ContainerQemuLauncher(image);
        var replayHost = image is null ? null : new ContainerReplayHost();
        string bundle;
        await using (var machine = await fixture.Ready.StartAsync(fixture.Spec, new MachineStartOptions { Mode = RunMode.Record, Launcher = launcher }, Ct))
        {
            await machine.ExecAsync("head -c8 /dev/urandom | od -An -tx1", cancellationToken: Ct);
            await machine.CheckpointAsync("after-random", Ct);
            await machine.ExecAsync("echo done-$((1+2))", cancellationToken: Ct);
            bundle = await machine.KeepAsBundleAsync(Path.Combine(fixture.Root, "bundles", $"rec-{Path.GetFileName(place).Replace(':', '-')}"), new BundleTest("record " + place), Ct);
        }

        await using var opened = await ReplayBundle.OpenAsync(bundle, Ct);
        (await opened.VerifyAsync(Ct)).IsIntact.Should().BeTrue();
        if (image is not null)
        {
            var facts = await DockerEngine.InspectImageAsync(DockerEngine.Resolve(null), image.Name, Ct);
            opened.Manifest.Qemu.ContainerImage.Should().Be($"{facts.Name}@{facts.Id}");
            opened.Manifest.Qemu.Sha256.Should().Be(facts.QemuSha256);
        }
        else
        {
            opened.Manifest.Qemu.ContainerImage.Should().BeNull("it ran on this host");
        }

        var full = await Replayer.ReplayAsync(opened, new ReplayOptions { Host = replayHost }, Ct);
        full.Identical.Should().BeTrue(full.Verdict);
        full.From.Should().Be(ReadyState.SnapshotName);
        full.RelayedCheckpoints.Should().Equal(["after-random"], "a replay goes on from each checkpoint it passes as the recording saved it");
        if (image is not null)
        {
            full.Binary.Should().StartWith($"image {image.Name} (");
        }

        var fromCheckpoint = await Replayer.ReplayAsync(opened, new ReplayOptions { Host = replayHost, FromCheckpoint = "after-random" }, Ct);
        fromCheckpoint.Identical.Should().BeTrue(fromCheckpoint.Verdict);
        fromCheckpoint.From.Should().Be("after-random");
        fromCheckpoint.ComparedBytes.Should().BeLessThan(full.ComparedBytes);

        // Held for a break one instruction after the checkpoint: paused at the start snapshot, the replay seeks into the
        // checkpoint (ReplayUntil.SeekAsync) where it ran, never standing paused at the checkpoint itself.
        var checkpoint = opened.Manifest.Checkpoints.Single();
        var justAfter = await Replayer.ReplayAsync(opened,
            new ReplayOptions { Host = replayHost, FromCheckpoint = checkpoint.Name, Until = ReplayUntil.AtIcount(checkpoint.Icount + 1) }, Ct);
        justAfter.Identical.Should().BeTrue(justAfter.Verdict);
        justAfter.StoppedAtIcount.Should().Be(checkpoint.Icount + 1);

        if (place == QemuBuilder.DefaultImage)
        {
            // The container removed under the replay (docker rm, a pruning job): one line that says so, not Docker.DotNet's exception.
            using var client = DockerEngine.CreateClient(DockerEngine.Resolve(null));
            var removed = () => Replayer.ReplayAsync(opened, new ReplayOptions { Host = new RemovedAfterLaunch(new ContainerReplayHost(), client) }, Ct);
            (await removed.Should().ThrowAsync<QemuContainerException>()).Which.Message
                .Should().Contain("replay it again").And.Contain(bundle).And.NotContain("\n");
        }
    }

    [Fact]
    public async Task A_missing_image_or_an_unreachable_engine_is_one_clear_line()
    {
        var missing = () => fixture.Ready.StartAsync(fixture.Spec, new MachineStartOptions { Launcher = new ContainerQemuLauncher(new ContainerImage("qemutestkit/absent:none")) }, Ct);
        (await missing.Should().ThrowAsync<QemuContainerException>()).Which.Message
            .Should().Contain("qemutestkit/absent:none").And.Contain("eng/docker/build-image.sh").And.NotContain("\n");

        var unreachable = () => fixture.Ready.StartAsync(fixture.Spec,
            new MachineStartOptions { Launcher = new ContainerQemuLauncher(ContainerGuestFixture.Image with { DockerEndpoint = new Uri("tcp://127.0.0.1:9") }) }, Ct);
        (await unreachable.Should().ThrowAsync<QemuContainerException>()).Which.Message
            .Should().StartWith("no Docker engine answers at tcp://127.0.0.1:9").And.Contain("DOCKER_HOST").And.NotContain("\n");
    }

    /// <summary>A container replay host whose container is removed as soon as QEMU replays in it (as docker rm would).</summary>
    private sealed class RemovedAfterLaunch(IReplayHost inner, Docker.DotNet.IDockerClient client) : IReplayHost
    {
        public async Task<IReplayLauncher> PrepareAsync(ReplayBundle bundle, ReplayOptions options, CancellationToken cancellationToken) =>
            new Launcher(await inner.PrepareAsync(bundle, options, cancellationToken), client);

        private sealed class Launcher(IReplayLauncher inner, Docker.DotNet.IDockerClient client) : IReplayLauncher
        {
            public string Build => inner.Build;

            public async Task<LaunchedReplay> LaunchAsync(ReplayLaunch launch, CancellationToken cancellationToken)
            {
                var launched = await inner.LaunchAsync(launch, cancellationToken);
                await client.Containers.RemoveContainerAsync(((ContainerQemuHost)launched.Machine.Host!).ContainerId, new ContainerRemoveParameters { Force = true },
                    cancellationToken);
                return launched;
            }

            public Task ConfirmEndAsync(QemuMachine machine, CancellationToken cancellationToken) => inner.ConfirmEndAsync(machine, cancellationToken);
        }
    }
}
