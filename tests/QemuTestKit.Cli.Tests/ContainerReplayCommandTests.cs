using QemuTestKit.Cli.Tests.Support;
using QemuTestKit.Containers;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Cli.Tests;

/// <summary>One run of the test guest recorded in a container of qemutestkit/qemu:local, with a checkpoint, kept as a bundle.</summary>
public sealed class ContainerBundleFixture : IAsyncLifetime
{
    public const string Image = "qemutestkit/qemu:local";

    public string Root { get; } = Directory.CreateTempSubdirectory("qtk-cli-ct-replay-").FullName;

    public string CacheDir => Path.Combine(Root, "cache");

    public string Bundle { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var spec = GuestSpecs.Hello("cli-ct-replay");
        // Engine and image are the first things asked: without them this fails saying how to get them (./build.sh setup).
        var ready = await ReadyState.PrepareAsync(spec, Path.Combine(Root, "state"), new MachineStartOptions { IcountShift = 5, Launcher = new ContainerQemuLauncher(new ContainerImage(Image)) }, ct);
        await using var machine = await ready.StartAsync(spec, new MachineStartOptions { Mode = RunMode.Record, Launcher = new ContainerQemuLauncher(new ContainerImage(Image)) }, ct);
        Bundle = await RecordedSession.RecordAsync(machine, Path.Combine(Root, "run"), "cli container replay fixture", ct);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(Root, recursive: true);
        return ValueTask.CompletedTask;
    }
}

/// <summary><c>qemutestkit replay</c> of a bundle recorded in a container: on the host when it has the image's QEMU build, else in the image.</summary>
public sealed class ContainerReplayCommandTests(ContainerBundleFixture fixture) : IClassFixture<ContainerBundleFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(180);

    private Task<CliResult> ReplayAsync(params string[] args) =>
        CliRunner.RunAsync(["replay", .. args], fixture.CacheDir, Within, cancellationToken: TestContext.Current.CancellationToken);

    private static string[] Lines(CliResult result) => result.Stdout.Replace("\r", string.Empty, StringComparison.Ordinal).TrimEnd('\n').Split('\n');

    [Fact]
    public async Task A_container_bundle_replays_on_the_host_when_the_hosts_QEMU_is_the_recorded_build()
    {
        await using (var opened = await ReplayBundle.OpenAsync(fixture.Bundle, TestContext.Current.CancellationToken))
        {
            (await ContainerReplayHost.HostBinaryOfRecordedBuildAsync(opened.Manifest, cancellationToken: TestContext.Current.CancellationToken)).Should().NotBeNull(
                "the image is built from the same Debian package as this host's QEMU (./build.sh setup); otherwise this test cannot show a host replay");
        }

        var result = await ReplayAsync(fixture.Bundle);

        result.ExitCode.Should().Be(0, result.ToString());
        Lines(result)[0].Should().StartWith($"replaying {fixture.Bundle} on the host (same QEMU build as image {ContainerBundleFixture.Image}): machine cli-ct-replay");
        Lines(result)[^1].Should().MatchRegex(@"^replay: identical \(\d+ bytes from ready\)$");
    }

    [Fact]
    public async Task A_container_bundle_replays_in_its_image_from_a_checkpoint_when_the_host_QEMU_differs_or_when_asked()
    {
        // qemu-system-i386 stands for "this host's QEMU is another build": its sha256 is not the recorded one.
        // --timeout below the test's own limit: a stuck replay then says so itself instead of being killed.
        var other = await ReplayAsync(fixture.Bundle, "--qemu", "qemu-system-i386", "--from", "after-one", "--timeout", "100");

        other.ExitCode.Should().Be(0, other.ToString());
        Lines(other)[0].Should().StartWith(
            $"replaying {fixture.Bundle} in image {ContainerBundleFixture.Image} (this host's QEMU is not the recorded build): machine cli-ct-replay, QEMU ")
            .And.EndWith("from after-one");
        Lines(other)[^1].Should().MatchRegex(@"^replay: identical \(\d+ bytes from after-one\)$");

        var asked = await ReplayAsync(fixture.Bundle, "--in-image", "--timeout", "100");

        asked.ExitCode.Should().Be(0, asked.ToString());
        Lines(asked)[0].Should().StartWith($"replaying {fixture.Bundle} in image {ContainerBundleFixture.Image} (--in-image): ");
        Lines(asked).Should().Contain($"replay: starting a container of {ContainerBundleFixture.Image}");
        Lines(asked)[^1].Should().MatchRegex(@"^replay: identical \(\d+ bytes from ready\)$");
        asked.Stdout.Should().NotContain("[testcontainers.org", "the CLI's output is its own, not Testcontainers' log");
    }

    /// <summary>
    /// A container frozen under the replay (docker pause: QEMU answers neither console nor QMP, as a stuck replay can)
    /// must not hold it past its timeout, counted from the start; and the frozen container is removed.
    /// </summary>
    [Fact]
    public async Task A_replay_in_a_frozen_container_ends_within_its_timeout_and_removes_the_container()
    {
        const int timeout = 30;
        string? container = null;
        var result = await CliRunner.RunAsync(["replay", fixture.Bundle, "--in-image", "--timeout", $"{timeout}"], fixture.CacheDir, Within,
            whileRunning: async (_, ct) =>
            {
                while ((container = (await DockerAsync(ct, "ps", "-q", "--filter", "label=org.qemutestkit.machine=cli-ct-replay")).Trim()) is "")
                {
                    await Task.Delay(100, ct);
                }

                // At once: the replay in the image takes a few seconds only, and QEMU frozen while it starts must not hold it either.
                await DockerAsync(ct, "pause", container);
            },
            cancellationToken: TestContext.Current.CancellationToken);

        var message = result.ShouldFailCleanly(1, Within);
        result.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(timeout + 60), $"the timeout counts from the start\n{result}");
        message.Should().Contain($"the replay made no end within {timeout} s").And.Contain("--timeout");
        (await DockerAsync(TestContext.Current.CancellationToken, "ps", "-aq", "--filter", $"id={container}")).Trim()
            .Should().BeEmpty("the frozen container must be removed with the replay");
    }

    private static async Task<string> DockerAsync(CancellationToken ct, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("docker") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        using var docker = System.Diagnostics.Process.Start(psi)!;
        var output = await docker.StandardOutput.ReadToEndAsync(ct);
        await docker.WaitForExitAsync(ct);
        docker.ExitCode.Should().Be(0, $"docker {string.Join(' ', args)} must succeed");
        return output;
    }
}
