using QemuTestKit.Machines.Bundles;

namespace QemuTestKit.Machines.Tests.Replay;

public sealed class BundleWriterTests : IDisposable
{
    private readonly BundleSandbox _box = new();

    public void Dispose() => _box.Dispose();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_written_bundle_opens_and_verifies_intact()
    {
        var directory = await _box.WriteAsync();

        directory.Should().Be(_box.Output("sample.qtkreplay"));
        _box.OutputEntries().Should().Equal("sample.qtkreplay");
        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        bundle.Directory.Should().Be(directory);
        var given = BundleSandbox.Manifest();
        bundle.Manifest.Should().BeEquivalentTo(given, o => o
            .ComparingRecordsByMembers()
            .Excluding(m => m.Files).Excluding(m => m.Transcript).Excluding(m => m.ExternalFiles));
        bundle.Manifest.Kind.Should().Be(BundleManifest.KindValue);
        bundle.Manifest.SchemaVersion.Should().Be(BundleManifest.CurrentSchemaVersion);

        var verification = await bundle.VerifyAsync(Ct);
        verification.IsIntact.Should().BeTrue(string.Join("\n", verification.Problems));
        verification.Problems.Should().BeEmpty();
        verification.UnlistedFiles.Should().BeEmpty();
        verification.Files.Should().HaveCount(6).And.OnlyContain(f => f.Status == BundleFileStatus.Ok);
    }

    [Fact]
    public async Task Every_file_is_listed_with_its_size_role_and_sha256_and_the_transcript_is_described()
    {
        var directory = await _box.WriteAsync();

        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        var files = bundle.Manifest.Files;
        files.Select(f => f.Path).Should().Equal("images/vmlinuz", "replay.bin", "state.qcow2", "stderr.log", "transcript-chunks.json", "transcript.txt");
        foreach (var file in files)
        {
            var content = _box.Contents[file.Path];
            file.Size.Should().Be(content.Length, file.Path);
            file.Sha256.Should().Be(BundleSandbox.Sha256(content), file.Path);
            File.ReadAllBytes(bundle.PathOf(file.Path)).Should().Equal(content, file.Path);
        }

        files.Single(f => f.Path == "state.qcow2").Role.Should().Be(BundleRoles.StateImage);
        var transcript = _box.Contents["transcript.txt"];
        bundle.Manifest.Transcript.Should().Be(new BundleTranscript("transcript.txt", transcript.Length, BundleSandbox.Sha256(transcript), "transcript-chunks.json"));
        bundle.TranscriptPath.Should().Be(Path.Combine(directory, "transcript.txt"));
        bundle.PathOfRole(BundleRoles.ReplayLog).Should().Be(Path.Combine(directory, "replay.bin"));
        bundle.Manifest.ExternalFiles.Should().BeEmpty();
        Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories).Should().HaveCount(7, "six files and bundle.json");
    }

    [Fact]
    public async Task While_the_bundle_is_written_nothing_is_at_the_target_and_bundle_json_does_not_exist_yet()
    {
        var seen = new List<string>();
        var options = new BundleWriteOptions
        {
            AfterEachSource = (path, _) =>
            {
                Directory.Exists(_box.Output("sample.qtkreplay")).Should().BeFalse();
                var temp = Directory.GetDirectories(_box.OutputDir).Should().ContainSingle().Subject;
                Path.GetFileName(temp).Should().MatchRegex(@"^\.sample\.qtkreplay\.[0-9a-f]{32}\.tmp$");
                File.Exists(Path.Combine(temp, "bundle.json")).Should().BeFalse("bundle.json is written last");
                seen.Add(path);
                return ValueTask.CompletedTask;
            },
        };

        await _box.WriteAsync(options: options);

        seen.Should().HaveCount(6);
        _box.OutputEntries().Should().Equal("sample.qtkreplay");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public async Task Cancelling_mid_write_leaves_no_bundle_no_temporary_and_puts_moved_files_back(int afterSources)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var sources = _box.Sources(moveState: true);
        var placed = 0;
        var options = new BundleWriteOptions
        {
            Zip = true,
            AfterEachSource = (_, _) =>
            {
                if (++placed == afterSources)
                {
                    cancel.Cancel();
                }

                return ValueTask.CompletedTask;
            },
        };

        var write = () => ReplayBundleWriter.WriteAsync(BundleSandbox.Manifest(), sources, _box.Output("sample"), options, cancel.Token);

        await write.Should().ThrowAsync<OperationCanceledException>();
        _box.OutputEntries().Should().BeEmpty("no bundle, no zip and no temporary directory");
        var state = sources.Single(s => s.Role == BundleRoles.StateImage);
        File.ReadAllBytes(state.SourcePath).Should().Equal(_box.Contents["state.qcow2"], "a moved file is put back when the write does not finish");
    }

    [Fact]
    public async Task A_cancelled_token_writes_nothing()
    {
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();

        var write = () => ReplayBundleWriter.WriteAsync(BundleSandbox.Manifest(), _box.Sources(), _box.Output("sample"), null, cancel.Token);

        await write.Should().ThrowAsync<OperationCanceledException>();
        _box.OutputEntries().Should().BeEmpty();
    }

    [Fact]
    public async Task Cancelling_during_a_large_copy_leaves_nothing()
    {
        var sources = _box.Sources();
        sources.Add(_box.Make("big.qcow2", BundleRoles.DiskOverlay, BundleSandbox.Random(48 << 20, 9)));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(5));

        try
        {
            await ReplayBundleWriter.WriteAsync(BundleSandbox.Manifest(), sources, _box.Output("sample"), null, cancel.Token);
            _box.OutputEntries().Should().Equal("sample.qtkreplay");
        }
        catch (OperationCanceledException)
        {
            _box.OutputEntries().Should().BeEmpty();
        }
    }

    [Fact]
    public async Task A_moved_source_is_gone_from_its_place_and_in_the_bundle()
    {
        var sources = _box.Sources(moveState: true);

        var directory = await _box.WriteAsync(sources: sources);

        File.Exists(sources.Single(s => s.Move).SourcePath).Should().BeFalse();
        File.ReadAllBytes(Path.Combine(directory, "state.qcow2")).Should().Equal(_box.Contents["state.qcow2"]);
        File.Exists(sources.Single(s => s.Role == BundleRoles.ReplayLog).SourcePath).Should().BeTrue("copied sources stay");
    }

    [Fact]
    public async Task An_existing_bundle_is_refused_unless_overwriting()
    {
        var first = await _box.WriteAsync();

        var again = () => _box.WriteAsync();

        var error = (await again.Should().ThrowAsync<ReplayBundleException>()).Which;
        error.Error.Should().Be(ReplayBundleError.AlreadyExists);
        error.Message.Should().Contain(first).And.Contain("already exists");
        _box.OutputEntries().Should().Equal("sample.qtkreplay");

        var sources = _box.Sources();
        sources.RemoveAll(s => s.Role == BundleRoles.Stderr);
        var second = await _box.WriteAsync(options: new BundleWriteOptions { Overwrite = true }, sources: sources);

        second.Should().Be(first);
        _box.OutputEntries().Should().Equal("sample.qtkreplay");
        File.Exists(Path.Combine(second, "stderr.log")).Should().BeFalse("the old bundle was replaced as a whole");
        using var bundle = await ReplayBundle.OpenAsync(second, Ct);
        (await bundle.VerifyAsync(Ct)).IsIntact.Should().BeTrue();
    }

    [Fact]
    public async Task A_missing_source_is_named_and_nothing_is_written()
    {
        var sources = _box.Sources();
        File.Delete(sources[0].SourcePath);

        var write = () => _box.WriteAsync(sources: sources);

        var error = (await write.Should().ThrowAsync<ReplayBundleException>()).Which;
        error.Error.Should().Be(ReplayBundleError.SourceMissing);
        error.Message.Should().Contain(sources[0].SourcePath).And.Contain("replay-log");
        _box.OutputEntries().Should().BeEmpty();
    }

    [Theory]
    [InlineData("../escape.bin")]
    [InlineData("/etc/escape.bin")]
    [InlineData("a/../../b")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData("bundle.json")]
    [InlineData(@"a\b")]
    [InlineData("a,b")]
    [InlineData("")]
    public async Task A_bundle_path_that_is_not_safely_inside_the_bundle_is_refused(string bundlePath)
    {
        var sources = _box.Sources();
        sources.Add(new BundleSource(sources[0].SourcePath, bundlePath, BundleRoles.Screenshot));

        var write = () => _box.WriteAsync(sources: sources);

        await write.Should().ThrowAsync<ArgumentException>();
        _box.OutputEntries().Should().BeEmpty();
    }

    [Fact]
    public async Task Duplicate_bundle_paths_and_a_file_used_as_a_directory_are_refused()
    {
        var duplicate = _box.Sources();
        duplicate.Add(new BundleSource(duplicate[0].SourcePath, "Replay.bin", BundleRoles.Screenshot));
        var nested = _box.Sources();
        nested.Add(new BundleSource(nested[0].SourcePath, "replay.bin/inner", BundleRoles.Screenshot));

        await ((Func<Task>)(() => _box.WriteAsync(sources: duplicate))).Should().ThrowAsync<ArgumentException>().WithMessage("*twice*");
        await ((Func<Task>)(() => _box.WriteAsync(sources: nested))).Should().ThrowAsync<ArgumentException>().WithMessage("*directory*");
    }

    [Fact]
    public async Task A_bundle_needs_exactly_one_transcript()
    {
        var none = _box.Sources();
        none.RemoveAll(s => s.Role == BundleRoles.Transcript);
        var two = _box.Sources();
        two.Add(new BundleSource(two[0].SourcePath, "second.txt", BundleRoles.Transcript));

        await ((Func<Task>)(() => _box.WriteAsync(sources: none))).Should().ThrowAsync<ArgumentException>().WithMessage("*exactly one*transcript*");
        await ((Func<Task>)(() => _box.WriteAsync(sources: two))).Should().ThrowAsync<ArgumentException>().WithMessage("*exactly one*transcript*");
    }

    [Fact]
    public async Task The_name_gets_the_qtkreplay_suffix_and_an_unset_creation_time_is_filled()
    {
        var before = DateTimeOffset.UtcNow;
        var directory = await ReplayBundleWriter.WriteAsync(
            BundleSandbox.Manifest() with { CreatedAt = default }, _box.Sources(), Path.Combine(_box.OutputDir, "nested", "run-42"), null, Ct);

        directory.Should().Be(Path.Combine(_box.OutputDir, "nested", "run-42.qtkreplay"));
        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        bundle.Manifest.CreatedAt.Should().BeOnOrAfter(before.AddSeconds(-1));
    }

    [Fact]
    public async Task An_empty_transcript_is_written_and_a_checkpoint_beyond_it_is_a_manifest_problem()
    {
        var sources = _box.Sources();
        sources.RemoveAll(s => s.Role == BundleRoles.Transcript);
        sources.Add(_box.Make("transcript.txt", BundleRoles.Transcript, []));

        var directory = await _box.WriteAsync(sources: sources);

        using var bundle = await ReplayBundle.OpenAsync(directory, Ct);
        bundle.Manifest.Transcript.Length.Should().Be(0);
        bundle.Manifest.Transcript.Sha256.Should().Be(BundleSandbox.Sha256([]));
        var verification = await bundle.VerifyAsync(Ct);
        verification.ManifestProblems.Should().ContainSingle("the after-login checkpoint's offset 12 is beyond an empty transcript")
            .Which.Should().Contain("after-login");
    }
}
