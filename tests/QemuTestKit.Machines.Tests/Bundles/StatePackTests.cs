using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using QemuTestKit.Machines.Bundles;
using static QemuTestKit.Machines.Tests.Support.SparseFiles;

namespace QemuTestKit.Machines.Tests.Bundles;

public sealed class StatePackTests : IDisposable
{
    private const int MiB = 1 << 20;
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-statepack-").FullName;
    private readonly string _packs;
    private readonly string _images;

    public StatePackTests()
    {
        _packs = Directory.CreateDirectory(Path.Combine(_root, "packs")).FullName;
        _images = Directory.CreateDirectory(Path.Combine(_root, "images")).FullName;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Random_data_with_a_nearby_repeat_round_trips_byte_for_byte()
    {
        var random = RandomBytes(3 * MiB, seed: 1);
        var image = WriteImage("random.qcow2", [.. random, .. random.AsSpan(0, 200 * 1024), .. RandomBytes(77, seed: 2)]);

        var result = await StatePack.PackAsync(image, PackPath, Ct);
        await StatePack.UnpackAsync(PackPath, ImagePath, Ct);

        File.ReadAllBytes(ImagePath).Should().Equal(File.ReadAllBytes(image));
        result.OriginalLength.Should().Be(new FileInfo(image).Length);
        result.OriginalSha256.Should().Be(Sha256(image).ToLowerInvariant());
        result.PackedLength.Should().Be(new FileInfo(PackPath).Length);
        result.UniqueChunks.Should().BeLessThan((int)result.TotalChunks, "the repeated 200 KiB are stored once");
        StatePack.IsPack(PackPath).Should().BeTrue();
        StatePack.IsPack(image).Should().BeFalse();
        StatePack.IsPack(Path.Combine(_root, "missing")).Should().BeFalse();
    }

    [Fact]
    public async Task Zero_runs_are_stored_as_extents_and_unpacked_as_holes()
    {
        // Written zeros, not holes: the pack must find them by content.
        var image = WriteImage("zeros.qcow2", [.. RandomBytes(MiB, seed: 3), .. new byte[30 * MiB], .. RandomBytes(MiB + 5, seed: 4), .. new byte[9000]]);

        var result = await StatePack.PackAsync(image, PackPath, Ct);
        await StatePack.UnpackAsync(PackPath, ImagePath, Ct);

        result.PackedLength.Should().BeLessThan(2 * MiB + 64 * 1024, "only the 2 MiB of random data are stored");
        new FileInfo(ImagePath).Length.Should().Be(new FileInfo(image).Length);
        Sha256(ImagePath).Should().Be(Sha256(image));
        AllocatedBytes(ImagePath).Should().BeLessThan(4 * MiB, "the 30 MiB of zeros become a hole, not written zeros");
        AllocatedBytes(image).Should().BeGreaterThan(30 * MiB, "the source had them written");
    }

    [Fact]
    public async Task An_empty_image_round_trips()
    {
        var image = WriteImage("empty.qcow2", []);

        var result = await StatePack.PackAsync(image, PackPath, Ct);
        await StatePack.UnpackAsync(PackPath, ImagePath, Ct);

        result.Should().BeEquivalentTo(new { OriginalLength = 0, UniqueChunks = 0, TotalChunks = 0, OriginalSha256 = Sha256(image).ToLowerInvariant() });
        result.PackedLength.Should().BeGreaterThan(StatePack.HeaderSize);
        new FileInfo(ImagePath).Length.Should().Be(0);
    }

    [Fact]
    public async Task A_copy_shifted_by_three_bytes_is_stored_once()
    {
        var a = RandomBytes(4 * MiB, seed: 5);
        var b = RandomBytes(4 * MiB, seed: 6);
        var image = WriteImage("shifted.qcow2", [.. a, .. b, 1, 2, 3, .. a, .. b]);

        var result = await StatePack.PackAsync(image, PackPath, Ct);
        await StatePack.UnpackAsync(PackPath, ImagePath, Ct);

        // Random data does not compress: only finding the second copy at its odd offset keeps the pack near one copy
        // (fixed-size blocks would store both, 16 MiB).
        result.PackedLength.Should().BeLessThan(8 * MiB + 256 * 1024);
        result.UniqueChunks.Should().BeLessThan((int)(result.TotalChunks * 6 / 10));
        Sha256(ImagePath).Should().Be(Sha256(image));
    }

    [Fact]
    public async Task A_qcow2_image_with_internal_snapshots_unpacks_to_the_same_bytes_and_passes_qemu_img_check()
    {
        var image = Path.Combine(_images, "snapshots.qcow2");
        await RunAsync("qemu-img", "create", "-q", "-f", "qcow2", image, "64M");
        await RunAsync("qemu-io", "-c", "write -P 0x5a 0 1M", image);
        await RunAsync("qemu-img", "snapshot", "-c", "first", image);
        await RunAsync("qemu-io", "-c", "write -P 0x33 512k 2M", image);
        await RunAsync("qemu-img", "snapshot", "-c", "second", image);
        await RunAsync("qemu-io", "-c", "write -P 0x77 32M 1M", image);

        var result = await StatePack.PackAsync(image, PackPath, Ct);
        var unpacked = Path.Combine(_root, "unpacked.qcow2");
        await StatePack.UnpackAsync(PackPath, unpacked, Ct);

        File.ReadAllBytes(unpacked).Should().Equal(File.ReadAllBytes(image));
        result.PackedLength.Should().BeLessThan(result.OriginalLength / 4, "the pattern clusters compress and repeat");
        (await RunAsync("qemu-img", "check", unpacked)).Should().Contain("No errors were found");
        (await RunAsync("qemu-img", "snapshot", "-l", unpacked)).Should().Contain("first").And.Contain("second");
    }

    [Fact]
    public async Task A_pack_with_another_start_is_refused_as_not_a_state_pack()
    {
        await PackRandomAsync();
        Patch(0, "QCOW"u8);

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: it does not start with the state pack magic*restore the bundle from a good copy or record the run again");
    }

    [Fact]
    public async Task A_pack_of_a_newer_format_names_its_version()
    {
        await PackRandomAsync();
        Patch(8, [2, 0]);

        await ShouldBeRefusedAsync("*'" + PackPath + "' has format version 2, newer than this QemuTestKit reads (1)*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(60)]
    [InlineData(StatePack.HeaderSize)]
    [InlineData(-1)]
    [InlineData(-1000)]
    public async Task A_truncated_pack_is_refused(int keep)
    {
        await PackRandomAsync();
        var bytes = File.ReadAllBytes(PackPath);
        File.WriteAllBytes(PackPath, bytes[..(keep >= 0 ? keep : bytes.Length + keep)]);

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: it is truncated (*");
    }

    [Fact]
    public async Task A_pack_with_bytes_after_its_end_is_refused()
    {
        await PackRandomAsync();
        using (var stream = new FileStream(PackPath, FileMode.Append))
        {
            stream.Write([1, 2, 3]);
        }

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: it has 3 bytes more than it was written with*");
    }

    [Fact]
    public async Task A_damaged_header_fails_its_check()
    {
        await PackRandomAsync();
        Patch(17, [0x7F]); // The image length.

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: its header does not match its checksum*");
    }

    [Fact]
    public async Task A_reference_to_a_chunk_that_was_not_stored_is_refused()
    {
        // One stored chunk (index 0), then a reference to chunk 7.
        WriteCraftedPack([StatePack.ChunkRecord, 4, 1, 2, 3, 4, StatePack.RepeatRecord, 7, StatePack.EndRecord], imageLength: 8, totalChunks: 2, uniqueChunks: 1);

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: a chunk reference at image offset 4 names chunk 7, but only 1 came before it*");
    }

    [Theory]
    [InlineData(new byte[] { StatePack.ChunkRecord, 4, 1, 2, 3, 4 }, "its records end without an end record, at image offset 4")]
    [InlineData(new byte[] { StatePack.ChunkRecord, 4, 1, 2 }, "its records end inside the chunk at image offset 0")]
    [InlineData(new byte[] { 9, 4, StatePack.EndRecord }, "it holds a record of unknown kind 9 at image offset 0")]
    [InlineData(new byte[] { StatePack.ChunkRecord, 4, 1, 2, 3, 4, StatePack.EndRecord, StatePack.EndRecord }, "it holds data after its end record")]
    public async Task Records_that_do_not_end_properly_are_refused(byte[] records, string what)
    {
        WriteCraftedPack(records, imageLength: 4, totalChunks: 1, uniqueChunks: 1);

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: " + what + ";*");
    }

    [Fact]
    public async Task Records_that_go_past_the_recorded_length_are_refused()
    {
        WriteCraftedPack([StatePack.ZeroRecord, 0x80, 0x80, 0x80, 0x80, 0x10, StatePack.EndRecord], imageLength: 4096, totalChunks: 0, uniqueChunks: 0);

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: a zero run at image offset 0 of 4294967296 bytes does not fit the image's 4096 bytes*");
    }

    [Fact]
    public async Task Compressed_data_that_does_not_decompress_is_refused()
    {
        var garbage = RandomBytes(4096, seed: 7);
        garbage[0] = 0x11; // A window size Brotli reserves: no valid stream starts so.
        var header = new byte[StatePack.HeaderSize];
        StatePack.WriteHeader(header, 4096, StatePack.HeaderSize + garbage.Length, new byte[32], 1, 1);
        File.WriteAllBytes(PackPath, [.. header, .. garbage]);

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: its compressed data cannot be decompressed*");
    }

    [Fact]
    public async Task A_corrupted_byte_in_the_compressed_data_is_caught()
    {
        await PackRandomAsync();
        var length = new FileInfo(PackPath).Length;
        Patch(length / 2, [(byte)(File.ReadAllBytes(PackPath)[length / 2] ^ 0x10)]);

        await ShouldBeRefusedAsync("*'" + PackPath + "' is damaged: *");
    }

    [Fact]
    public async Task A_length_that_differs_from_what_the_records_restore_is_refused()
    {
        var result = await PackRandomAsync();
        RewriteHeader(result with { OriginalLength = result.OriginalLength + 1 });

        await ShouldBeRefusedAsync($"*'{PackPath}' is damaged: its records restore {result.OriginalLength} bytes, but its header records {result.OriginalLength + 1}*");
    }

    [Fact]
    public async Task A_restored_image_whose_sha256_differs_from_the_recorded_one_is_refused()
    {
        var result = await PackRandomAsync();
        RewriteHeader(result with { OriginalSha256 = new string('0', 64) });

        await ShouldBeRefusedAsync($"*'{PackPath}' is damaged: the restored image's sha256 is {result.OriginalSha256}, but the pack recorded {new string('0', 64)}*");
    }

    [Fact]
    public async Task A_cancelled_pack_leaves_no_file()
    {
        var image = WriteImage("cancel.qcow2", RandomBytes(48 * MiB, seed: 8));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var pack = StatePack.PackAsync(image, PackPath, cancel.Token);
        await CancelWhenATemporaryFileAppearsAsync(_packs, cancel);

        await FluentActions.Awaiting(() => pack).Should().ThrowAsync<OperationCanceledException>();
        Directory.EnumerateFileSystemEntries(_packs).Should().BeEmpty();
    }

    [Fact]
    public async Task A_cancelled_unpack_leaves_no_file()
    {
        var image = WriteImage("cancel.qcow2", RandomBytes(48 * MiB, seed: 9));
        await StatePack.PackAsync(image, PackPath, Ct);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var unpack = StatePack.UnpackAsync(PackPath, ImagePath, cancel.Token);
        await CancelWhenATemporaryFileAppearsAsync(_images, cancel);

        await FluentActions.Awaiting(() => unpack).Should().ThrowAsync<OperationCanceledException>();
        Directory.EnumerateFileSystemEntries(_images).Should().BeEmpty();

        await StatePack.UnpackAsync(PackPath, ImagePath, CancellationToken.None);
        Sha256(ImagePath).Should().Be(Sha256(image), "the pack itself is untouched");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string PackPath => Path.Combine(_packs, "state.qcow2.pack");

    private string ImagePath => Path.Combine(_images, "state.qcow2");

    private async Task<StatePackResult> PackRandomAsync()
    {
        var random = RandomBytes(2 * MiB, seed: 10);
        var image = Path.Combine(_root, "source.qcow2");
        File.WriteAllBytes(image, [.. random, .. random, .. new byte[64 * 1024]]);
        return await StatePack.PackAsync(image, PackPath, Ct);
    }

    private async Task ShouldBeRefusedAsync(string message)
    {
        await FluentActions.Awaiting(() => StatePack.UnpackAsync(PackPath, ImagePath, Ct))
            .Should().ThrowAsync<InvalidDataException>().WithMessage(message);
        Directory.EnumerateFileSystemEntries(_images).Should().BeEmpty("neither the image nor its temporary file is left");
    }

    private static async Task CancelWhenATemporaryFileAppearsAsync(string directory, CancellationTokenSource cancel)
    {
        var waited = Stopwatch.StartNew();
        while (!Directory.EnumerateFiles(directory, "*.tmp").Any())
        {
            waited.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(30), "the temporary file appears at the start");
            await Task.Delay(1, Ct);
        }

        await cancel.CancelAsync();
    }

    private void Patch(long offset, ReadOnlySpan<byte> bytes)
    {
        using var stream = new FileStream(PackPath, FileMode.Open, FileAccess.Write);
        stream.Position = offset;
        stream.Write(bytes);
    }

    private void RewriteHeader(StatePackResult result)
    {
        var header = new byte[StatePack.HeaderSize];
        StatePack.WriteHeader(header, result.OriginalLength, result.PackedLength, Convert.FromHexString(result.OriginalSha256), result.TotalChunks, result.UniqueChunks);
        Patch(0, header);
    }

    private void WriteCraftedPack(byte[] records, long imageLength, long totalChunks, int uniqueChunks)
    {
        var compressed = new byte[BrotliEncoder.GetMaxCompressedLength(records.Length)];
        BrotliEncoder.TryCompress(records, compressed, out var written, quality: 2, window: 22).Should().BeTrue();
        var header = new byte[StatePack.HeaderSize];
        StatePack.WriteHeader(header, imageLength, StatePack.HeaderSize + written, new byte[32], totalChunks, uniqueChunks);
        File.WriteAllBytes(PackPath, [.. header, .. compressed.AsSpan(0, written)]);
        BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(8)).Should().Be(StatePack.FormatVersion);
    }

    private string WriteImage(string name, byte[] content)
    {
        var path = Path.Combine(_root, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    private static byte[] RandomBytes(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<string> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var error = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        process.ExitCode.Should().Be(0, $"{program} {string.Join(' ', arguments)} failed: {await error}");
        return await output;
    }
}
