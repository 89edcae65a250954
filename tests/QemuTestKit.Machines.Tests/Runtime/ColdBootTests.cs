using System.Security.Cryptography;
using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class ColdBootTests
{
    /// <summary>
    /// One cold boot for every hostile file name: the kernel, the initrd and a disk whose names hold commas, spaces,
    /// quotes and '=' must reach QEMU as themselves (no injected option), and the base disk image must not change
    /// even though the guest writes to the disk.
    /// </summary>
    [Fact]
    public async Task Files_with_hostile_names_boot_inject_nothing_and_the_base_disk_is_never_written()
    {
        var ct = TestContext.Current.CancellationToken;
        var guest = TestGuest.Load();
        var dir = Directory.CreateTempSubdirectory("qtk-names-").FullName;
        try
        {
            var kernel = Path.Combine(dir, "vm,linuz readonly=on 'q\".img");
            var initrd = Path.Combine(dir, "init,rd=x,file=y.gz");
            var disk = Path.Combine(dir, "data, if=ide,format=qcow2 'x\".raw");
            File.Copy(guest.Kernel, kernel);
            File.Copy(guest.Initrd, initrd);
            var content = new byte[16 * 1024 * 1024];
            "QTK-BASE"u8.CopyTo(content);
            await File.WriteAllBytesAsync(disk, content, ct);
            var baseHash = Convert.ToHexString(SHA256.HashData(content));
            var catalog = await new CatalogCache(Path.Combine(dir, "cache")).GetAsync("qemu-system-x86_64", ct);
            var spec = GuestSpecs.Hello("odd-names", kernel, initrd) with { Disks = [new DiskSpec(disk, "raw")] };

            await using (var machine = await QemuMachine.StartAsync(spec, new MachineStartOptions { Catalog = catalog }, ct))
            {
                await machine.WaitUntilReadyAsync(ct);
                var cmdline = await machine.ExecAsync("cat /proc/cmdline", TimeSpan.FromSeconds(120), ct);
                cmdline.Output.Trim().Should().Be(guest.Append);
                machine.Arguments.Should().Contain(kernel).And.Contain(initrd);
                machine.Arguments.Should().Contain(a => a.StartsWith("virtio-blk-pci,", StringComparison.Ordinal) && a.Contains(",bus=pcie.0,addr=0x02,", StringComparison.Ordinal),
                    "the disk is placed on the root bus of q35's real tree, read and cached when the machine starts");

                var before = await machine.ExecAsync("dd if=/dev/vda bs=8 count=1 2>/dev/null", TimeSpan.FromSeconds(120), ct);
                before.Output.Should().Be("QTK-BASE", "the guest reads the base image through its overlay");
                var write = await machine.ExecAsync("printf CHANGED! | dd of=/dev/vda conv=notrunc 2>/dev/null && sync && dd if=/dev/vda bs=8 count=1 2>/dev/null",
                    TimeSpan.FromSeconds(120), ct);
                write.ExitCode.Should().Be(0);
                write.Output.Should().Be("CHANGED!");
            }

            Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(disk, ct))).Should().Be(baseHash, "base images are never written");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
