using System.Text.Json.Nodes;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.Unit;

/// <summary>The tasks run in this process against the installed QEMU (catalog from a private cache), without MSBuild.</summary>
public sealed class TaskTests(ProductFeed feed) : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-tasks-unit-").FullName;

    private string ProjectFile => Path.Combine(_root, "p.csproj");

    private bool _written;

    private void WriteProject()
    {
        if (_written)
        {
            return;
        }

        _written = true;
        File.WriteAllText(ProjectFile, """
            <Project>
              <ItemGroup>
                <QemuMachine Include="good" MachineType="q35" />
                <QemuMachine Include="bad"
                             MachineType="pc-q99"
                             Memory="lots" />
              </ItemGroup>
            </Project>
            """);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Check_reports_every_problem_located_on_its_line_and_attribute_and_writes_nothing()
    {
        var engine = new FakeBuildEngine();
        var task = NewCheck(engine, Machine("good", ("MachineType", "q35")), Machine("bad", ("MachineType", "pc-q99"), ("Memory", "lots")));

        task.Execute().Should().BeFalse();

        engine.Errors.Select(e => (e.Code, e.File, e.LineNumber, e.ColumnNumber)).Should().BeEquivalentTo(new[]
        {
            ("QTK2001", ProjectFile, 6, 18),
            ("QTK1002", ProjectFile, 5, 18),
        });
        engine.Errors.Should().OnlyContain(e => e.Message!.StartsWith("QemuMachine 'bad', metadata ", StringComparison.Ordinal));
        File.Exists(Path.Combine(_root, "state", MachinesManifest.FileName)).Should().BeFalse();
        task.MachineStates.Should().BeEmpty();
    }

    [Fact]
    public void Check_writes_specs_and_manifest_and_returns_the_prepare_inputs()
    {
        var kernel = Path.Combine(_root, "vmlinuz");
        File.WriteAllText(kernel, "not really a kernel");
        var engine = new FakeBuildEngine();
        var task = NewCheck(engine, Machine("good", ("MachineType", "q35"), ("Kernel", "vmlinuz"), ("ReadyPattern", "READY"), ("Prepare", "true")),
            Machine("other", ("MachineType", "pc")));

        task.Execute().Should().BeTrue(string.Join("\n", engine.Errors.Select(e => e.Message)));

        task.MachineStates.Select(m => m.ItemSpec).Should().Equal("good", "other");
        var good = task.MachineStates[0];
        good.GetMetadata("StateImage").Should().Be(Path.Combine(_root, "state", "good", "state.qcow2"));
        good.GetMetadata("HashLine").Should().EndWith(QemuTestKitTask.Generator);
        File.Exists(good.GetMetadata("SpecFile")).Should().BeTrue();
        task.PrepareInputs.Select(i => i.ItemSpec).Should().Contain(kernel).And.Contain(good.GetMetadata("HashFile"))
            .And.Contain(good.GetMetadata("QemuBinary"));
        task.PrepareInputs.Should().OnlyContain(i => i.GetMetadata("Machine") == "good", "only machines with Prepare are prepared");

        var manifest = JsonNode.Parse(File.ReadAllText(task.ManifestFile))!;
        ((int?)manifest["schemaVersion"]).Should().Be(MachinesManifest.CurrentSchemaVersion);
        ((string?)manifest["machines"]![0]!["spec"]!["kernel"]).Should().Be(kernel);
        ((string?)manifest["machines"]![1]!["stateDirectory"]).Should().BeNull();

        var written = File.GetLastWriteTimeUtc(task.ManifestFile);
        var again = NewCheck(new FakeBuildEngine(), Machine("good", ("MachineType", "q35"), ("Kernel", "vmlinuz"), ("ReadyPattern", "READY"), ("Prepare", "true")),
            Machine("other", ("MachineType", "pc")));
        again.Execute().Should().BeTrue();
        File.GetLastWriteTimeUtc(again.ManifestFile).Should().Be(written, "the same content is not written again");
    }

    [Fact]
    public void The_manifest_the_task_writes_reads_back_through_the_fixtures_reader_with_every_field()
    {
        var kernel = Path.Combine(_root, "vmlinuz");
        File.WriteAllText(kernel, "not really a kernel");
        var engine = new FakeBuildEngine();
        var task = NewCheck(engine,
            Machine("good", ("MachineType", "q35"), ("Kernel", "vmlinuz"), ("ReadyPattern", "READY"), ("Prepare", "true"), ("Record", "false")),
            Machine("boxed", ("MachineType", "q35"), ("ReadyPattern", "READY"), ("Prepare", "true"), ("Host", "container"), ("Image", "qemutestkit/qemu:10")));
        task.Configuration = "Release";

        task.Execute().Should().BeTrue(string.Join("\n", engine.Errors.Select(e => e.Message)));

        var text = File.ReadAllText(task.ManifestFile);
        var manifest = MachinesManifestJson.Parse(text, task.ManifestFile);
        MachinesManifestJson.Serialize(manifest).Should().Be(text, "every field the task writes is read back as it was");
        manifest.Should().BeEquivalentTo(new
        {
            SchemaVersion = MachinesManifest.CurrentSchemaVersion,
            QemuTestKitTask.Generator,
            Project = ProjectFile,
            Configuration = "Release",
        });
        var states = task.MachineStates;
        manifest.Machines.Select(m => m.Name).Should().Equal("good", "boxed");
        manifest.Machines[0].Should().BeEquivalentTo(new
        {
            QemuBinary = states[0].GetMetadata("QemuBinary"),
            QemuVersion = states[0].GetMetadata("QemuVersion"),
            Prepare = true,
            StateDirectory = states[0].GetMetadata("StateDirectory"),
            SpecHash = states[0].GetMetadata("HashLine").Split(' ')[0],
            Host = "local",
            Image = (string?)null,
            Record = (bool?)false,
        });
        manifest.Machines[1].Should().BeEquivalentTo(new { Prepare = true, StateDirectory = (string?)null, Host = "container", Image = "qemutestkit/qemu:10", Record = (bool?)null });
        for (var i = 0; i < 2; i++)
        {
            var specFile = File.ReadAllText(states[i].GetMetadata("SpecFile"));
            manifest.Machines[i].Spec.Should().BeEquivalentTo(MachineSpecJson.Deserialize(specFile, "spec file"), o => o.ComparingRecordsByMembers());
            JsonNode.DeepEquals(JsonNode.Parse(text)!["machines"]![i]!["spec"], JsonNode.Parse(specFile)).Should().BeTrue("the manifest's spec is the spec file's JSON");
        }

        manifest.Machines[0].Spec.Kernel.Should().Be(kernel);
        JsonNode.Parse(text)!["machines"]![0]!.AsObject().Select(p => p.Key).Should().NotContain("stateImage", "nothing reads it");
    }

    [Fact]
    public void The_spec_hash_line_changes_with_any_metadata_and_only_then()
    {
        string HashLine(params (string, string)[] metadata)
        {
            var task = NewCheck(new FakeBuildEngine(), Machine("good", [("MachineType", "q35"), .. metadata]));
            task.Execute().Should().BeTrue();
            return task.MachineStates.Single().GetMetadata("HashLine");
        }

        var plain = HashLine();
        HashLine().Should().Be(plain);
        HashLine(("Memory", "256M")).Should().Be(plain, "256M is the default");
        HashLine(("Memory", "512M")).Should().NotBe(plain);
        HashLine(("Cpu", "max")).Should().NotBe(plain);
    }

    [Fact]
    public void A_machine_naming_only_the_aarch64_binary_is_aarch64_in_its_spec_and_the_manifest()
    {
        var engine = new FakeBuildEngine();
        var task = NewCheck(engine, Machine("arm", ("Qemu", "qemu-system-aarch64"), ("MachineType", "virt"), ("Cpu", "cortex-a57")));

        task.Execute().Should().BeTrue(string.Join("\n", engine.Errors.Select(e => e.Message)));

        var spec = JsonNode.Parse(File.ReadAllText(task.MachineStates.Single().GetMetadata("SpecFile")))!;
        ((string?)spec["architecture"]).Should().Be("aarch64", "the build writes the binary's target when no Architecture is declared");
        ((string?)spec["qemu"]).Should().Be("qemu-system-aarch64");
        var manifest = JsonNode.Parse(File.ReadAllText(task.ManifestFile))!;
        ((string?)manifest["machines"]![0]!["spec"]!["architecture"]).Should().Be("aarch64");
    }

    [Fact]
    public void An_architecture_the_binary_does_not_emulate_is_QTK1029_on_the_Architecture_metadata()
    {
        var engine = new FakeBuildEngine();
        var task = NewCheck(engine, Machine("arm", ("Qemu", "qemu-system-aarch64"), ("Architecture", "riscv64"), ("MachineType", "virt")));

        task.Execute().Should().BeFalse();

        var error = engine.Errors.Should().ContainSingle().Subject;
        error.Code.Should().Be("QTK1029");
        error.Message.Should().StartWith("QemuMachine 'arm', metadata Architecture: 'riscv64' is not the target of qemu-system-aarch64 ")
            .And.Contain("which emulates aarch64");
    }

    [Fact]
    public void Check_without_validation_accepts_what_QEMU_would_reject_but_not_malformed_items()
    {
        var engine = new FakeBuildEngine();
        var task = NewCheck(engine, Machine("bad", ("MachineType", "pc-q99")), Machine("worse", ("MachineType", "q35"), ("Smp", "two")));
        task.Validate = false;

        task.Execute().Should().BeFalse();

        engine.Errors.Select(e => e.Code).Should().Equal("QTK2002");
    }

    [Fact]
    public void Check_rejects_a_usb_tablet_on_aarch64_virt_until_the_machine_declares_a_qemu_xhci()
    {
        QemuTestKit.Introspection.Processes.ExecutableSearch.Find("qemu-system-aarch64").Should()
            .NotBeNull("this test needs Debian's qemu-system-arm: apt-get install -y qemu-system-arm");
        var board = Machine("board", ("Architecture", "aarch64"), ("MachineType", "virt"));
        var tablet = Machine("usb-tablet", ("Machine", "board"));

        var engine = new FakeBuildEngine();
        var task = NewCheck(engine, board);
        task.Devices = [tablet];
        task.Execute().Should().BeFalse();
        var error = engine.Errors.Should().ContainSingle().Subject;
        error.Code.Should().Be("QTK1022");
        error.Message.Should().Contain("needs a USB bus (usb-bus), but machine type 'virt' has none").And.Contain("Type=qemu-xhci");

        var fixedEngine = new FakeBuildEngine();
        var fixedTask = NewCheck(fixedEngine, board);
        fixedTask.Devices = [Machine("qemu-xhci", ("Machine", "board")), tablet];
        fixedTask.Execute().Should().BeTrue(string.Join("\n", fixedEngine.Errors.Select(e => e.Message)));
    }

    [Fact]
    public void Prepare_reports_a_missing_binary_as_an_error_without_booting()
    {
        var spec = Path.Combine(_root, "m.spec.json");
        File.WriteAllText(spec, """{"name":"m","machineType":"q35","qemu":"qemu-system-nonesuch","ready":{"pattern":"x","timeoutSeconds":5}}""");
        var engine = new FakeBuildEngine();
        var task = new PrepareQemuMachine
        {
            BuildEngine = engine,
            Machine = "m",
            SpecFile = spec,
            StateDirectory = Path.Combine(_root, "state", "m"),
            ProjectFile = ProjectFile,
            CacheDirectory = Path.Combine(_root, "cache"),
        };

        task.Execute().Should().BeFalse();

        engine.Errors.Should().ContainSingle().Which.Code.Should().Be("QTK2014");
        engine.Messages.Should().Contain(m => m.Message == "m: booting (q35, 256 MiB)" && m.Importance == MessageImportance.High);
        engine.Yields.Should().Be(1);
        engine.Reacquires.Should().Be(1);
    }

    /// <summary>
    /// A container machine is checked against its image's QEMU, not the host's: here an image whose QEMU has no q35 (as
    /// another build lacks what this one has). Before any run has read that image, the host's check only warns; after
    /// (the index a run writes, CatalogCache.RememberImage), the image's catalog fails the build.
    /// </summary>
    [Fact]
    public async System.Threading.Tasks.Task A_container_machine_is_checked_against_its_images_QEMU_once_a_run_has_read_it_and_only_warned_about_before()
    {
        var ct = TestContext.Current.CancellationToken;
        const string image = "example/qemu:without-q35";
        var cacheDirectory = Path.Combine(_root, "cache");
        var cache = new QemuTestKit.Introspection.Catalog.CatalogCache(cacheDirectory);
        var hostCatalog = await cache.GetAsync("qemu-system-x86_64", ct);
        CheckQemuMachines Check(FakeBuildEngine engine) => new()
        {
            BuildEngine = engine,
            Machines = [Machine("boxed", ("MachineType", "q35"), ("Host", "container"), ("Image", image))],
            ProjectFile = ProjectFile,
            StateRoot = Path.Combine(_root, "state"),
            CacheDirectory = cacheDirectory,
        };
        WriteProject();

        var unseen = new FakeBuildEngine();
        Check(unseen).Execute().Should().BeTrue(string.Join("\n", unseen.Errors.Select(e => e.Message)));
        unseen.Warnings.Should().NotContain(w => w.Code == "QTK1002", "the host's QEMU has q35");

        var identity = QemuTestKit.Introspection.Catalog.CatalogCache.RemoteIdentity("/usr/bin/qemu-system-x86_64@sha256:" + new string('a', 64));
        await cache.GetAsync(identity, _ => System.Threading.Tasks.Task.FromResult(hostCatalog with
        {
            Machines = [.. hostCatalog.Machines.Where(m => m.Alias != "q35" && !m.Name.StartsWith("pc-q35", StringComparison.Ordinal))],
        }), ct);
        cache.RememberImage(new QemuTestKit.Introspection.Catalog.ImageCatalogEntry(image, "sha256:" + new string('b', 64), null, identity.Path));

        var seen = new FakeBuildEngine();
        Check(seen).Execute().Should().BeFalse("the image's QEMU has no q35");
        seen.Errors.Should().ContainSingle(e => e.Code == "QTK1002", string.Join("\n", seen.Errors.Concat<LazyFormattedBuildEventArgs>(seen.Warnings).Select(w => w.Message))).Which.Message.Should().Contain("'q35'");

        // The same index naming the host's own build: the host's catalog is the image's, and q35 is fine.
        cache.RememberImage(new QemuTestKit.Introspection.Catalog.ImageCatalogEntry(image, "sha256:" + new string('c', 64), hostCatalog.Binary, null));
        var same = new FakeBuildEngine();
        Check(same).Execute().Should().BeTrue(string.Join("\n", same.Errors.Select(e => e.Message)));
    }

    /// <summary>Before a run has read the image, what the host's QEMU refuses is a warning that says so, not an error.</summary>
    [Fact]
    public void A_container_machine_whose_image_no_run_has_read_gets_warnings_from_the_hosts_check()
    {
        var engine = new FakeBuildEngine();
        var task = NewCheck(engine, Machine("boxed", ("MachineType", "pc-q99"), ("Host", "container"), ("Image", "example/qemu:never-seen")));

        task.Execute().Should().BeTrue(string.Join("\n", engine.Errors.Select(e => e.Message)));

        engine.Warnings.Should().ContainSingle(w => w.Code == "QTK1002", string.Join("\n", engine.Warnings.Select(w => $"{w.Code} {w.Message}"))).Which.Message
            .Should().Contain("no run has read image example/qemu:never-seen's QEMU yet, which the test start checks");
    }

    private CheckQemuMachines NewCheck(IBuildEngine engine, params ITaskItem[] machines)
    {
        WriteProject();
        return new CheckQemuMachines
        {
            BuildEngine = engine,
            Machines = machines,
            ProjectFile = ProjectFile,
            StateRoot = Path.Combine(_root, "state"),
            CacheDirectory = feed.CacheDirectory,
        };
    }

    private static TaskItem Machine(string name, params (string Name, string Value)[] metadata)
    {
        var item = new TaskItem(name);
        foreach (var (key, value) in metadata)
        {
            item.SetMetadata(key, value);
        }

        return item;
    }
}
