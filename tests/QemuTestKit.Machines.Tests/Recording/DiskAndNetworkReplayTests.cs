using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Replay;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Recording;

public sealed class DiskAndNetworkReplayTests
{
    /// <summary>
    /// Disk writes go through blkreplay and network packets through filter-replay: a run that writes to a disk and
    /// receives data from the host over user-mode networking replays byte for byte, and the base image stays as it was.
    /// </summary>
    [Fact]
    public async Task A_run_that_writes_a_disk_and_receives_network_data_replays_identically_and_leaves_the_base_image_alone()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = Directory.CreateTempSubdirectory("qtk-disknet-").FullName;
        try
        {
            var disk = Path.Combine(root, "base, disk.raw");
            var content = new byte[8 * 1024 * 1024];
            "QTK-BASE"u8.CopyTo(content);
            await File.WriteAllBytesAsync(disk, content, ct);
            var baseHash = Convert.ToHexString(SHA256.HashData(content));
            var port = FreePort();
            var spec = GuestSpecs.Hello("disknet") with
            {
                Disks = [new DiskSpec(disk, "raw")],
                // e1000, not virtio-net-pci: on QEMU 7.2 the replay of a virtio-net machine stalls (measured here, with
                // and without ioeventfd), while e1000's replays byte for byte.
                Nics = [new NicSpec("e1000", [new HostForward("tcp", port, 5555)])],
            };
            var catalog = await new CatalogCache(Path.Combine(root, "cache")).GetAsync("qemu-system-x86_64", ct);
            var options = new MachineStartOptions { Catalog = catalog };
            var ready = await ReadyState.PrepareAsync(spec, Path.Combine(root, "state"), options with { IcountShift = 5 }, ct);

            string bundlePath;
            var payload = $"hello-from-host-{Guid.NewGuid():N}";
            await using (var machine = await ready.StartAsync(spec, options with { Mode = RunMode.Record }, ct))
            {
                (await machine.ExecAsync("dd if=/dev/vda bs=8 count=1 2>/dev/null", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("QTK-BASE");
                (await machine.ExecAsync("printf WRITTEN! | dd of=/dev/vda conv=notrunc 2>/dev/null && sync && dd if=/dev/vda bs=8 count=1 2>/dev/null",
                    TimeSpan.FromSeconds(120), ct)).Output.Should().Be("WRITTEN!");
                // 5555 is 15B3 in /proc/net/tcp6 (busybox nc listens dual-stack): send only once the guest really listens, or slirp drops the data.
                (await machine.ExecAsync("nc -l -p 5555 > /tmp/got </dev/null & while ! grep -q ':15B3 ' /proc/net/tcp /proc/net/tcp6; do sleep 0.1; done; echo listening",
                    TimeSpan.FromSeconds(120), ct)).Output.Should().Be("listening");
                await SendAsync(port, payload, ct);
                (await machine.ExecAsync("for i in $(seq 100); do [ -s /tmp/got ] && break; sleep 0.1; done; cat /tmp/got", TimeSpan.FromSeconds(120), ct))
                    .Output.Should().Be(payload);
                await machine.CheckpointAsync("received", ct);
                bundlePath = await machine.KeepAsBundleAsync(Path.Combine(root, "disknet"), cancellationToken: ct);
            }

            // The overlay names the recorded base's path; the replay must read the bundle's copy (as on another machine).
            var moved = disk + ".moved";
            File.Move(disk, moved);
            await using var bundle = await ReplayBundle.OpenAsync(bundlePath, ct);
            var result = await Replayer.ReplayAsync(bundle, cancellationToken: ct);

            result.Identical.Should().BeTrue($"{result.Verdict}: recorded '{result.Recorded}', replayed '{result.Replayed}'");
            result.RelayedCheckpoints.Should().BeEmpty("loading a checkpoint of a machine with a NIC stalls its replay (ReplayLimits.FromCheckpoint)");
            Encoding.UTF8.GetString(await File.ReadAllBytesAsync(bundle.TranscriptPath, ct)).Should().Contain(payload);
            Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(moved, ct))).Should().Be(baseHash, "base images are never written");

            // From its checkpoint a machine with a NIC stalls for good (ReplayLimits.FromCheckpoint): refused before QEMU starts.
            var fromCheckpoint = () => Replayer.ReplayAsync(bundle, new ReplayOptions { FromCheckpoint = "received" }, ct);
            (await fromCheckpoint.Should().ThrowAsync<ReplayException>()).Which.Message.Should().StartWith("cannot replay from checkpoint 'received': machine 'disknet' has a NIC (e1000)");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Connects through the host forward (retrying while the guest's listener starts) and sends the payload.</summary>
    private static async Task SendAsync(int port, string payload, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port, ct);
                await client.GetStream().WriteAsync(Encoding.UTF8.GetBytes(payload), ct);
                client.Client.Shutdown(SocketShutdown.Send);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct);
            }
        }
    }
}
