using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Bundles;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;

namespace QemuTestKit.Machines.Tests.Recording;

public sealed class BundleScreenshotTests
{
    [Fact]
    public async Task A_kept_recording_of_a_machine_with_a_display_holds_its_final_screen_as_a_listed_png()
    {
        var ct = TestContext.Current.CancellationToken;
        var root = Directory.CreateTempSubdirectory("qtk-shot-bundle-").FullName;
        try
        {
            var catalog = await new CatalogCache(Path.Combine(root, "cache")).GetAsync("qemu-system-x86_64", ct);
            var options = new MachineStartOptions { Catalog = catalog, Mode = RunMode.Record, Paused = true };
            // A cold-boot recording held at reset: the display device has a framebuffer before any guest code runs.
            var withDisplay = GuestSpecs.Hello("display") with { Devices = [new DeviceSpec("VGA")] };
            string shown;
            await using (var machine = await QemuMachine.StartAsync(withDisplay, options, ct))
            {
                shown = await machine.KeepAsBundleAsync(Path.Combine(root, "shown"), cancellationToken: ct);
            }

            string headless;
            await using (var machine = await QemuMachine.StartAsync(GuestSpecs.Hello("headless"), options, ct))
            {
                headless = await machine.KeepAsBundleAsync(Path.Combine(root, "headless"), cancellationToken: ct);
            }

            await using var bundle = await ReplayBundle.OpenAsync(shown, ct);
            var file = bundle.Manifest.Files.Should().ContainSingle(f => f.Role == BundleRoles.Screenshot).Subject;
            file.Path.Should().Be(RecordingBundler.ScreenshotPath);
            var png = await File.ReadAllBytesAsync(bundle.PathOf(file.Path), ct);
            png.Take(8).Should().Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a });
            file.Sha256.Should().Be(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(png)).ToLowerInvariant());
            (await bundle.VerifyAsync(ct)).IsIntact.Should().BeTrue();

            await using var plain = await ReplayBundle.OpenAsync(headless, ct);
            plain.Manifest.Files.Should().NotContain(f => f.Role == BundleRoles.Screenshot, "a machine without a display device has no screen");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
