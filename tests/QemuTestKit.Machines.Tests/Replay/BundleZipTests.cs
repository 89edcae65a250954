using System.IO.Compression;
using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Machines.Tests.Replay;

/// <summary>The zip form: written with the bundle or packed later, opened by extracting to a private directory.</summary>
public sealed class BundleZipTests : IDisposable
{
    private readonly BundleSandbox _box = new();

    public void Dispose() => _box.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_bundle_written_with_zip_opens_from_the_zip_verifies_and_cleans_up()
    {
        var directory = await _box.WriteAsync(options: new BundleWriteOptions { Zip = true });

        var zip = directory + ".zip";
        _box.OutputEntries().Should().Equal("sample.qtkreplay", "sample.qtkreplay.zip");
        using (var archive = ZipFile.OpenRead(zip))
        {
            archive.Entries.Should().OnlyContain(e => e.FullName.StartsWith("sample.qtkreplay/", StringComparison.Ordinal));
            archive.Entries[^1].FullName.Should().Be("sample.qtkreplay/bundle.json", "bundle.json is the last entry");
        }

        string extracted;
        using (var bundle = await ReplayBundle.OpenAsync(zip, Ct))
        {
            bundle.IsExtracted.Should().BeTrue();
            bundle.Source.Should().Be(zip);
            extracted = bundle.Directory;
            extracted.Should().NotStartWith(_box.Root);
            using var fromDirectory = await ReplayBundle.OpenAsync(directory, Ct);
            BundleManifestJson.Serialize(bundle.Manifest).Should().Be(BundleManifestJson.Serialize(fromDirectory.Manifest));
            var verification = await bundle.VerifyAsync(Ct);
            verification.IsIntact.Should().BeTrue(string.Join("\n", verification.Problems));
            File.ReadAllBytes(bundle.TranscriptPath).Should().Equal(_box.Contents["transcript.txt"]);
        }

        Directory.Exists(extracted).Should().BeFalse("disposing the bundle removes what was extracted");
    }

    [Fact]
    public async Task Pack_zip_of_a_directory_round_trips()
    {
        var directory = await _box.WriteAsync();
        await File.WriteAllTextAsync(Path.Combine(directory, "unlisted.txt"), "not part of the bundle", Ct);

        var zip = await ReplayBundle.PackZipAsync(directory, cancellationToken: Ct);

        zip.Should().Be(directory + ".zip");
        using var bundle = await ReplayBundle.OpenAsync(zip, Ct);
        var verification = await bundle.VerifyAsync(Ct);
        verification.IsIntact.Should().BeTrue();
        verification.UnlistedFiles.Should().BeEmpty("only the listed files are packed");
        var again = () => ReplayBundle.PackZipAsync(directory, cancellationToken: Ct);
        (await again.Should().ThrowAsync<ReplayBundleException>()).Which.Error.Should().Be(ReplayBundleError.AlreadyExists);
        _box.OutputEntries().Should().Equal("sample.qtkreplay", "sample.qtkreplay.zip");
    }

    [Fact]
    public async Task A_zip_with_bundle_json_at_its_root_is_accepted()
    {
        var directory = await _box.WriteAsync();
        var zip = _box.Output("flat.zip");
        ZipFile.CreateFromDirectory(directory, zip);

        using var bundle = await ReplayBundle.OpenAsync(zip, Ct);

        (await bundle.VerifyAsync(Ct)).IsIntact.Should().BeTrue();
    }

    [Fact]
    public async Task A_truncated_zip_is_damaged()
    {
        var directory = await _box.WriteAsync(options: new BundleWriteOptions { Zip = true });
        var zip = directory + ".zip";
        var bytes = await File.ReadAllBytesAsync(zip, Ct);
        await File.WriteAllBytesAsync(zip, bytes[..(bytes.Length / 2)], Ct);

        var error = await BundleSandbox.OpenFailsAsync(zip);

        error.Error.Should().Be(ReplayBundleError.DamagedZip);
        error.Message.Should().Contain(zip).And.Contain("damaged");
    }

    [Fact]
    public async Task A_file_named_zip_that_is_not_one_is_damaged()
    {
        var zip = _box.Output("fake.qtkreplay.zip");
        await File.WriteAllTextAsync(zip, "not a zip", Ct);

        var error = await BundleSandbox.OpenFailsAsync(zip);

        error.Error.Should().Be(ReplayBundleError.DamagedZip);
    }

    [Fact]
    public async Task A_zip_without_bundle_json_is_not_a_bundle()
    {
        var zip = _box.Output("other.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            await using var stream = archive.CreateEntry("readme.txt").Open();
            stream.WriteByte(65);
        }

        var error = await BundleSandbox.OpenFailsAsync(zip);

        error.Error.Should().Be(ReplayBundleError.NotABundle);
    }

    [Theory]
    [InlineData("b.qtkreplay/../../escape.txt")]
    [InlineData("b.qtkreplay/images/../../../escape.txt")]
    public async Task A_zip_entry_climbing_out_of_the_bundle_is_refused_and_nothing_is_written_outside(string entryName)
    {
        var zip = _box.Output("hostile.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            foreach (var name in new[] { entryName, "b.qtkreplay/bundle.json" })
            {
                await using var stream = archive.CreateEntry(name).Open();
                stream.WriteByte(65);
            }
        }

        var error = await BundleSandbox.OpenFailsAsync(zip);

        error.Error.Should().Be(ReplayBundleError.UnsafePath);
        error.Message.Should().Contain(entryName);
        Directory.EnumerateFiles(Path.GetTempPath(), "escape.txt", SearchOption.TopDirectoryOnly).Should().BeEmpty();
    }

    [Fact]
    public async Task A_damaged_manifest_inside_a_zip_is_reported_against_the_zip_and_the_extraction_is_removed()
    {
        var directory = await _box.WriteAsync();
        BundleSandbox.EditManifest(directory, m => m["schemaVersion"] = 9);
        var zip = _box.Output("newer.zip");
        ZipFile.CreateFromDirectory(directory, zip, CompressionLevel.Fastest, includeBaseDirectory: true);
        var before = Directory.GetDirectories(Path.GetTempPath(), "qtk-bundle-*").ToHashSet();

        var error = await BundleSandbox.OpenFailsAsync(zip);

        error.Error.Should().Be(ReplayBundleError.NewerSchema);
        error.Message.Should().Contain(zip);
        Directory.GetDirectories(Path.GetTempPath(), "qtk-bundle-*").Where(d => !before.Contains(d) && !d.Contains("qtk-bundle-test-", StringComparison.Ordinal))
            .Should().BeEmpty();
    }
}
