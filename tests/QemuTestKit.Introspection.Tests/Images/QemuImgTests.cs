using System.Diagnostics;
using QemuTestKit.Introspection.Images;
using QemuTestKit.Introspection.Tests.Support;

namespace QemuTestKit.Introspection.Tests.Images;

public sealed class QemuImgTests
{
    private static async Task RunQemuImgAsync(params string[] arguments)
    {
        var psi = new ProcessStartInfo(TestQemu.QemuImg) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi)!;
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        process.ExitCode.Should().Be(0, await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Lists_the_internal_snapshots_of_a_qcow2()
    {
        using var temp = new TempDirectory();
        var image = temp.File("state, with=comma.qcow2");
        await RunQemuImgAsync("create", "-q", "-f", "qcow2", image, "16M");
        await RunQemuImgAsync("snapshot", "-c", "ready", image);
        await RunQemuImgAsync("snapshot", "-c", "after-login", image);

        var snapshots = await new QemuImg().ListSnapshotsAsync(image, cancellationToken: TestContext.Current.CancellationToken);

        snapshots.Select(s => s.Name).Should().Equal("ready", "after-login");
        snapshots[0].Id.Should().Be("1");
        snapshots[0].Icount.Should().Be(0, "a snapshot taken outside record/replay has icount 0");
        snapshots[0].Date.Should().BeCloseTo(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task An_image_without_snapshots_has_an_empty_list()
    {
        using var temp = new TempDirectory();
        var image = temp.File("empty.qcow2");
        await RunQemuImgAsync("create", "-q", "-f", "qcow2", image, "1M");

        var info = await new QemuImg().InfoAsync(image, cancellationToken: TestContext.Current.CancellationToken);

        info.Format.Should().Be("qcow2");
        info.VirtualSize.Should().Be(1024 * 1024);
        (info.Snapshots ?? []).Should().BeEmpty();
    }

    [Fact]
    public async Task A_file_that_is_not_an_image_is_a_clear_error()
    {
        using var temp = new TempDirectory();
        var missing = temp.File("missing.qcow2");
        var act = () => new QemuImg().InfoAsync(missing, cancellationToken: TestContext.Current.CancellationToken);
        (await act.Should().ThrowAsync<QemuImageException>()).Which.Message.Should().Contain("missing.qcow2");
    }
}
