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
    public async Task The_snapshot_table_read_from_the_file_is_what_qemu_img_prints()
    {
        using var temp = new TempDirectory();
        var image = temp.File("table.qcow2");
        await RunQemuImgAsync("create", "-q", "-f", "qcow2", image, "16M");
        foreach (var name in new[] { "ready", "a-much-longer-snapshot-name-that-pads-its-entry", "c3" })
        {
            await RunQemuImgAsync("snapshot", "-c", name, image);
        }

        await RunQemuImgAsync("snapshot", "-d", "ready", image);

        var fromQemuImg = (await new QemuImg().InfoAsync(image, cancellationToken: TestContext.Current.CancellationToken)).Snapshots;
        var fromFile = Qcow2SnapshotTable.Read(image);

        fromQemuImg.Should().HaveCount(2);
        fromFile.Should().Equal(fromQemuImg);
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("qcow2")]
    public async Task An_overlay_names_the_format_of_its_base(string format)
    {
        using var temp = new TempDirectory();
        var baseImage = temp.File("base, with comma." + format);
        var overlay = temp.File("disk0.overlay.qcow2");
        await RunQemuImgAsync("create", "-q", "-f", format, baseImage, "8M");
        await RunQemuImgAsync("create", "-q", "-f", "qcow2", "-b", baseImage, "-F", format, overlay);

        Qcow2Header.BackingFormat(overlay).Should().Be(format);
    }

    [Fact]
    public async Task An_image_without_a_base_names_no_format_and_a_file_that_is_not_qcow2_is_a_clear_error()
    {
        using var temp = new TempDirectory();
        var standalone = temp.File("standalone.qcow2");
        var raw = temp.File("disk.raw");
        await RunQemuImgAsync("create", "-q", "-f", "qcow2", standalone, "8M");
        await RunQemuImgAsync("create", "-q", "-f", "raw", raw, "8M");

        Qcow2Header.BackingFormat(standalone).Should().BeNull();
        var notQcow2 = () => Qcow2Header.BackingFormat(raw);
        notQcow2.Should().Throw<QemuImageException>().WithMessage("*disk.raw*not a qcow2 image*");
        var missing = () => Qcow2Header.BackingFormat(temp.File("missing.qcow2"));
        missing.Should().Throw<QemuImageException>().WithMessage("*missing.qcow2*");
    }

    [Fact]
    public async Task A_damaged_snapshot_table_is_a_clear_error_naming_the_image()
    {
        using var temp = new TempDirectory();
        var image = temp.File("cut.qcow2");
        await RunQemuImgAsync("create", "-q", "-f", "qcow2", image, "16M");
        await RunQemuImgAsync("snapshot", "-c", "ready", image);
        var header = new byte[72];
        await using (var file = File.OpenRead(image))
        {
            await file.ReadExactlyAsync(header, TestContext.Current.CancellationToken);
        }

        var tableOffset = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(header.AsSpan(64));
        await using (var file = new FileStream(image, FileMode.Open))
        {
            file.SetLength(tableOffset + 20); // the table's first entry cut in half
        }

        var cut = () => Qcow2SnapshotTable.Read(image);
        cut.Should().Throw<QemuImageException>().WithMessage("*cut.qcow2*snapshot 1 of 1*qemu-img check*");

        var notAnImage = temp.File("notes.txt");
        await File.WriteAllTextAsync(notAnImage, "not a disk image at all, but long enough to hold a qcow2 header's 72 bytes..........", TestContext.Current.CancellationToken);
        var other = () => Qcow2SnapshotTable.Read(notAnImage);
        other.Should().Throw<QemuImageException>().WithMessage("*notes.txt*not a qcow2 image*");
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
