using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class SnapshotAndScreenshotTests(ReadyGuestFixture fixture) : IClassFixture<ReadyGuestFixture>
{
    [Fact]
    public async Task Loading_a_snapshot_returns_the_guest_to_the_moment_it_was_saved()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var machine = await fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct);
        (await machine.ExecAsync("echo one > /tmp/f", TimeSpan.FromSeconds(120), ct)).ExitCode.Should().Be(0);

        await machine.SaveSnapshotAsync("after-one", ct);
        (await machine.ExecAsync("echo two > /tmp/f; cat /tmp/f", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("two");
        await machine.LoadSnapshotAsync("after-one", ct);

        (await machine.ExecAsync("cat /tmp/f", TimeSpan.FromSeconds(120), ct)).Output.Should().Be("one");
    }

    [Fact]
    public async Task A_snapshot_name_with_spaces_is_refused_before_it_reaches_qemu()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var machine = await fixture.Ready.StartAsync(fixture.Spec, fixture.Options, ct);
        var act = () => machine.SaveSnapshotAsync("two words", ct);
        await act.Should().ThrowAsync<ArgumentException>().WithMessage("*two words*");
    }

    [Fact]
    public async Task A_machine_with_a_display_gives_a_png_screenshot_and_one_without_gives_a_clear_error()
    {
        var ct = TestContext.Current.CancellationToken;
        var png = Path.Combine(Path.GetTempPath(), $"qtk-shot-{Guid.NewGuid():N}.png");
        try
        {
            // Paused at reset: no guest code has to run for the display device to have a framebuffer.
            var withDisplay = fixture.Spec with { Name = "display", Devices = [new DeviceSpec("VGA")] };
            await using (var machine = await QemuMachine.StartAsync(withDisplay, fixture.Options with { Paused = true }, ct))
            {
                await machine.ScreenshotAsync(png, ct);
            }

            var bytes = await File.ReadAllBytesAsync(png, ct);
            bytes.Take(8).Should().Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0d, 0x0a, 0x1a, 0x0a });

            await using var headless = await QemuMachine.StartAsync(fixture.Spec with { Name = "headless" }, fixture.Options with { Paused = true }, ct);
            var act = () => headless.ScreenshotAsync(png, ct);
            (await act.Should().ThrowAsync<MachineCommandException>()).Which.Message.Should().Contain("headless").And.Contain("display device");
        }
        finally
        {
            File.Delete(png);
        }
    }
}
