using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using QemuTestKit.Machines.Runtime;
using static QemuTestKit.Machines.Tests.Support.SparseFiles;

namespace QemuTestKit.Machines.Tests.Runtime;

public sealed class ImageCopyTests : IDisposable
{
    private const int MiB = 1 << 20;
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-imagecopy-").FullName;

    [Fact]
    public void A_sparse_image_is_copied_byte_for_byte_without_writing_its_holes()
    {
        var source = Path.Combine(_root, "state.qcow2");
        using (var file = new FileStream(source, FileMode.CreateNew))
        {
            file.SetLength(64 * MiB);
            WriteAt(file, 0, 0x11);
            WriteAt(file, 32 * MiB + 4096, 0x22);
            WriteAt(file, 64 * MiB - MiB, 0x33);
        }

        var copy = Path.Combine(_root, "copy.qcow2");
        ImageCopy.Copy(source, copy);

        new FileInfo(copy).Length.Should().Be(64 * MiB);
        Sha256(copy).Should().Be(Sha256(source));
        AllocatedBytes(copy).Should().BeLessThan(8 * MiB, "only the 3 MiB of data are written, not the 61 MiB of holes");
    }

    [Fact]
    public void An_image_ending_in_a_hole_keeps_its_length()
    {
        var source = Path.Combine(_root, "tail-hole.qcow2");
        using (var file = new FileStream(source, FileMode.CreateNew))
        {
            WriteAt(file, 0, 0x44);
            file.SetLength(16 * MiB);
        }

        var copy = Path.Combine(_root, "copy.qcow2");
        ImageCopy.Copy(source, copy);

        new FileInfo(copy).Length.Should().Be(16 * MiB);
        Sha256(copy).Should().Be(Sha256(source));
    }

    [Fact]
    public void A_copy_never_overwrites_and_a_failed_one_leaves_nothing()
    {
        var source = Path.Combine(_root, "a.qcow2");
        File.WriteAllBytes(source, [1, 2, 3]);
        var existing = Path.Combine(_root, "b.qcow2");
        File.WriteAllBytes(existing, [9]);

        FluentActions.Invoking(() => ImageCopy.Copy(source, existing)).Should().Throw<IOException>();
        File.ReadAllBytes(existing).Should().Equal([(byte)9]);

        var target = Path.Combine(_root, "c.qcow2");
        FluentActions.Invoking(() => ImageCopy.Copy(Path.Combine(_root, "missing.qcow2"), target)).Should().Throw<FileNotFoundException>();
        File.Exists(target).Should().BeFalse();
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void A_memory_file_is_copied_with_only_its_non_zero_pages_and_reads_back_equal()
    {
        var source = Path.Combine(_root, "ram-source");
        using (var file = new FileStream(source, FileMode.CreateNew))
        {
            file.Write(new byte[16 * MiB]); // written zeros, as a guest leaves them: allocated in the source
            WriteAt(file, 4096, 0x55);
            file.Position = 16 * MiB - 100;
            file.Write(Enumerable.Repeat((byte)0x66, 100).ToArray()); // non-zero bytes in the last page only
        }

        var copy = Path.Combine(_root, "ram");
        GuestMemoryFile.CopyNonZeroPages(source, copy);

        new FileInfo(copy).Length.Should().Be(16 * MiB);
        Sha256(copy).Should().Be(Sha256(source));
        AllocatedBytes(copy).Should().BeLessThan(2 * MiB, "1 MiB and one page are non-zero; the 15 MiB of zeros become holes");
    }

    [Fact]
    public void A_memory_file_copy_that_fails_leaves_no_destination()
    {
        var copy = Path.Combine(_root, "ram-of-nothing");

        var act = () => GuestMemoryFile.CopyNonZeroPages(Path.Combine(_root, "no-such-ram"), copy);

        act.Should().Throw<FileNotFoundException>();
        File.Exists(copy).Should().BeFalse();
    }

    private static void WriteAt(FileStream file, long offset, byte value)
    {
        var block = new byte[MiB];
        Array.Fill(block, value);
        file.Position = offset;
        file.Write(block);
    }
}
