using System.Collections.Concurrent;
using System.Globalization;
using QemuTestKit.Tasks.Tests.Support;

namespace QemuTestKit.Tasks.Tests.EndToEnd;

/// <summary>
/// A project with one bad declaration, built for real: the build fails with the expected code on a line that names
/// the project file, the item and its metadata, and leaves no QEMU running.
/// </summary>
/// <param name="Name">The case, also the project's name.</param>
/// <param name="Subject">How the error names the item ("QemuMachine 'bad-type'").</param>
/// <param name="Where">How it names the metadata ("metadata MachineType", or "Include").</param>
/// <param name="Boots">The case starts a guest (its kernel is copied into the project, so its QEMU is found by path).</param>
public sealed record BadDeclaration(string Name, string Items, string Code, string Subject, string Where, bool Boots = false, string? AlsoInOutput = null);

/// <summary>The matrix: every case is its own project; one solution build builds them all, two at a time.</summary>
public sealed class BadDeclarationTests(ProductFeed feed)
{
    private static readonly ConcurrentDictionary<ProductFeed, Lazy<Task<MatrixRun>>> Runs = new();

    public static IReadOnlyList<BadDeclaration> Cases(string kernel, string initrd, long hostMemoryMiB) =>
    [
        new("unknown-machine-type", """<QemuMachine Include="bad-type" MachineType="pc-q99" />""",
            "QTK1002", "QemuMachine 'bad-type'", "metadata MachineType", AlsoInOutput: "did you mean"),
        new("unknown-cpu", """<QemuMachine Include="bad-cpu" MachineType="q35" Cpu="Skylake-Clent" />""",
            "QTK1004", "QemuMachine 'bad-cpu'", "metadata Cpu", AlsoInOutput: "'Skylake-Client'"),
        new("unknown-device", """
                <QemuMachine Include="m" MachineType="q35" />
                <QemuDevice Include="virtio-rgn-pci" Machine="m" />
            """, "QTK1013", "QemuDevice 'virtio-rgn-pci' of machine 'm'", "Include", AlsoInOutput: "'virtio-rng-pci'"),
        new("unknown-property", """
                <QemuMachine Include="m" MachineType="q35" />
                <QemuDevice Include="virtio-rng-pci" Machine="m" Properties="max-bytez=1024" />
            """, "QTK1021", "QemuDevice 'virtio-rng-pci' of machine 'm'", "metadata Properties", AlsoInOutput: "'max-bytes'"),
        new("property-value-not-of-its-type", """
                <QemuMachine Include="m" MachineType="q35" />
                <QemuDevice Include="virtio-rng-pci" Machine="m" Properties="max-bytes=lots,period=-5" />
            """, "QTK1040", "QemuDevice 'virtio-rng-pci' of machine 'm'", "metadata Properties",
            AlsoInOutput: "'lots' is not an integer: property 'max-bytes' (uint64) of 'virtio-rng-pci' takes an integer from 0 to"),
        new("nic-mac-not-a-mac", """
                <QemuMachine Include="m" MachineType="q35" />
                <QemuNic Include="net0" Machine="m" Model="e1000" Mac="52:54:00:12:34" />
            """, "QTK1040", "QemuNic 'net0' of machine 'm'", "metadata Mac", AlsoInOutput: "such as 52:54:00:12:34:56"),
        new("memory-over-host", string.Create(CultureInfo.InvariantCulture, $"""<QemuMachine Include="huge" MachineType="q35" Memory="{hostMemoryMiB + 1024}M" />"""),
            "QTK1005", "QemuMachine 'huge'", "metadata Memory"),
        new("missing-kernel", """<QemuMachine Include="no-kernel" MachineType="q35" Kernel="no/such/vmlinuz" />""",
            "QTK1010", "QemuMachine 'no-kernel'", "metadata Kernel"),
        new("duplicate-names", """
                <QemuMachine Include="twin" MachineType="q35" />
                <QemuMachine Include="twin" MachineType="pc" />
            """, "QTK2008", "QemuMachine 'twin'", "Include"),
        new("undeclared-machine", """
                <QemuMachine Include="m" MachineType="q35" />
                <QemuDisk Include="data.qcow2" Machine="ghost" />
            """, "QTK2009", "QemuDisk 'data.qcow2' of machine 'ghost'", "metadata Machine"),
        new("memory-with-space", """<QemuMachine Include="spaced" MachineType="q35" Memory="256 MiB" />""",
            "QTK2001", "QemuMachine 'spaced'", "metadata Memory"),
        new("memory-not-a-size", """<QemuMachine Include="lots" MachineType="q35" Memory="lots" />""",
            "QTK2001", "QemuMachine 'lots'", "metadata Memory"),
        new("smp-not-a-number", """<QemuMachine Include="smp" MachineType="q35" Smp="two" />""",
            "QTK2002", "QemuMachine 'smp'", "metadata Smp"),
        new("timeout-not-a-number", """<QemuMachine Include="soon" MachineType="q35" ReadyPattern="x" ReadyTimeout="soon" />""",
            "QTK2002", "QemuMachine 'soon'", "metadata ReadyTimeout"),
        new("prepare-not-a-boolean", """<QemuMachine Include="maybe" MachineType="q35" Prepare="maybe" />""",
            "QTK2003", "QemuMachine 'maybe'", "metadata Prepare"),
        new("unknown-accelerator", """<QemuMachine Include="hvf" MachineType="q35" Accelerator="hvf" />""",
            "QTK2004", "QemuMachine 'hvf'", "metadata Accelerator"),
        new("malformed-host-forward", """
                <QemuMachine Include="m" MachineType="q35" />
                <QemuNic Include="net0" Machine="m" HostForwards="tcp:2222" />
            """, "QTK2006", "QemuNic 'net0' of machine 'm'", "metadata HostForwards"),
        new("missing-machine-type", """<QemuMachine Include="typeless" />""",
            "QTK2007", "QemuMachine 'typeless'", "metadata MachineType"),
        new("unknown-qemu-binary", """<QemuMachine Include="nonesuch" Qemu="qemu-system-nonesuch" MachineType="q35" />""",
            "QTK2011", "QemuMachine 'nonesuch'", "metadata Qemu"),
        new("missing-riscv64-binary", """<QemuMachine Include="board" Qemu="/nonexistent/qemu-system-riscv64" MachineType="virt" />""",
            "QTK2011", "QemuMachine 'board'", "metadata Qemu", AlsoInOutput: "apt-get install qemu-system-misc"),
        // 'arm' names only the binary: no Architecture default may make it disagree (only 'mixed' is reported).
        new("architecture-not-the-binarys", """
                <QemuMachine Include="arm" Qemu="qemu-system-aarch64" MachineType="virt" Cpu="cortex-a57" />
                <QemuMachine Include="mixed" Qemu="qemu-system-aarch64" Architecture="riscv64" MachineType="virt" />
            """, "QTK1029", "QemuMachine 'mixed'", "metadata Architecture", AlsoInOutput: "which emulates aarch64"),
        new("x86-cpu-on-riscv64-virt", """<QemuMachine Include="rv" Qemu="qemu-system-riscv64" MachineType="virt" Cpu="Skylake-Client" />""",
            "QTK1004", "QemuMachine 'rv'", "metadata Cpu", AlsoInOutput: "is not a CPU model of qemu-system-riscv64"),
        new("i2c-device-on-aarch64-virt", """
                <QemuMachine Include="arm" Qemu="qemu-system-aarch64" MachineType="virt" Cpu="cortex-a57" />
                <QemuDevice Include="tmp105" Machine="arm" />
            """, "QTK1022", "QemuDevice 'tmp105' of machine 'arm'", "Include", AlsoInOutput: "needs an I2C bus"),
        new("aarch64-in-a-container", """<QemuMachine Include="arm" Qemu="qemu-system-aarch64" MachineType="virt" Cpu="cortex-a57" Host="container" />""",
            "QTK2018", "QemuMachine 'arm'", "metadata Host", AlsoInOutput: "qemu-system-aarch64 emulates aarch64"),
        new("prepare-without-ready-pattern", """<QemuMachine Include="patternless" MachineType="q35" Prepare="true" />""",
            "QTK2012", "QemuMachine 'patternless'", "metadata ReadyPattern"),

        // Starts QEMU for real: the kernel file exists (so it validates) but is no kernel, so QEMU exits at once.
        new("qemu-fails-to-start", """
                <QemuMachine Include="broken" MachineType="q35" Kernel="qemu-fails-to-start.csproj" ReadyPattern="READY" Prepare="true" />
            """, "QTK2014", "QemuMachine 'broken'", "metadata Prepare", AlsoInOutput: "QEMU exited with code 1 while starting"),

        // Boots for real: the kernel prints from its first instructions (earlyprintk, no "quiet"), the pattern never
        // comes, and the build fails with the console tail.
        new("ready-pattern-never-appears", """
                <QemuMachine Include="never" MachineType="q35" Kernel="vmlinuz" Initrd="initramfs.cpio.gz" Append="console=ttyS0 earlyprintk=ttyS0 panic=-1"
                             ReadyPattern="NEVER-PRINTED" ReadyTimeout="15" Prepare="true" />
            """, "QTK2013", "QemuMachine 'never'", "metadata ReadyPattern", Boots: true, AlsoInOutput: "console tail:"),
    ];

    public static TheoryData<string> CaseNames => new(Cases("k", "i", 1024).Select(c => c.Name));

    [Fact]
    public void The_matrix_has_at_least_twelve_cases() => Cases("k", "i", 1024).Should().HaveCountGreaterThanOrEqualTo(12);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public async Task A_bad_declaration_fails_the_build_with_its_code_on_its_item_and_leaves_no_qemu(string name)
    {
        var declaration = Cases(feed.Kernel, feed.Initrd, HostMemoryMiB()).Single(c => c.Name == name);
        var matrix = await Matrix();
        var project = matrix.Projects[name];
        var result = matrix.Result;

        result.Output.Should().Contain($"Done Building Project \"{project.ProjectFile}\" (default targets) -- FAILED.",
            $"the build of {name} must fail:\n{result}");
        var lines = result.Diagnostics(declaration.Code).Where(l => l.StartsWith(project.ProjectFile, StringComparison.Ordinal)).ToArray();
        lines.Should().Contain(l => l.Contains($"{declaration.Subject}, {declaration.Where}: ", StringComparison.Ordinal),
            $"an error {declaration.Code} names the project file, {declaration.Subject} and {declaration.Where}:\n{result}");
        if (declaration.AlsoInOutput is { } also)
        {
            result.Lines.Where(l => l.Contains(project.ProjectFile, StringComparison.Ordinal)).Should().Contain(l => l.Contains(also, StringComparison.Ordinal));
        }

        result.Output.Should().NotContain("   at ", "no stack trace reaches the user");
        matrix.QemuLeft[name].Should().BeEmpty("no QEMU outlives the build");
    }

    [Fact]
    public async Task QemuTestKitValidate_false_skips_validation()
    {
        var matrix = await Matrix();
        var project = matrix.Projects["unknown-machine-type"];
        matrix.Result.Diagnostics("QTK1002").Should().Contain(l => l.StartsWith(project.ProjectFile, StringComparison.Ordinal));

        var result = await project.BuildAsync("-p:QemuTestKitValidate=false");

        result.Succeeded.Should().BeTrue(result.ToString());
        result.Output.Should().NotContain("QTK1002");
        File.Exists(project.Manifest).Should().BeTrue();
    }

    [Fact]
    public async Task A_machine_that_names_only_a_non_x86_binary_takes_the_binarys_architecture()
    {
        var matrix = await Matrix();
        var project = matrix.Projects["architecture-not-the-binarys"];

        matrix.Result.Diagnostics("QTK1029").Where(l => l.StartsWith(project.ProjectFile, StringComparison.Ordinal))
            .Should().ContainSingle(matrix.Result.ToString()).Which.Should().Contain("QemuMachine 'mixed'");
        matrix.Result.Lines.Where(l => l.Contains(project.ProjectFile, StringComparison.Ordinal) && l.Contains("QemuMachine 'arm'", StringComparison.Ordinal))
            .Should().BeEmpty("a machine naming only qemu-system-aarch64 is valid");
    }

    [Fact]
    public async Task Every_problem_of_a_project_is_reported_in_one_build()
    {
        var project = feed.CreateProject("many-problems", """
                <QemuMachine Include="a" MachineType="pc-q99" Memory="lots" Smp="two" Memroy="1G" />
                <QemuMachine Include="b" MachineType="q35" Cpu="Skylake-Clent" Kernel="missing/vmlinuz" />
                <QemuDevice Include="virtio-rng-pci" Machine="b" Properties="max-bytez=1" />
                <QemuNic Include="net0" Machine="c" />
            """);

        var result = await project.BuildAsync();

        result.Succeeded.Should().BeFalse(result.ToString());
        foreach (var (code, subject) in new[]
                 {
                     ("QTK1002", "QemuMachine 'a'"), ("QTK2001", "QemuMachine 'a'"), ("QTK2002", "QemuMachine 'a'"),
                     ("QTK1004", "QemuMachine 'b'"), ("QTK1010", "QemuMachine 'b'"), ("QTK1021", "QemuDevice 'virtio-rng-pci' of machine 'b'"),
                     ("QTK2009", "QemuNic 'net0' of machine 'c'"),
                 })
        {
            result.Diagnostics(code).Should().Contain(l => l.Contains(subject, StringComparison.Ordinal), $"{code} on {subject}:\n{result}");
        }

        result.Diagnostics("QTK2010", "warning").Should().ContainSingle(l => l.Contains("metadata Memroy", StringComparison.Ordinal))
            .Which.Should().Contain("did you mean 'Memory'?");
        result.Diagnostics("QTK1005").Should().BeEmpty("memory that could not be read is reported once, as QTK2001");
    }

    private Task<MatrixRun> Matrix() =>
        Runs.GetOrAdd(feed, f => new Lazy<Task<MatrixRun>>(() => RunMatrixAsync(f))).Value;

    /// <summary>
    /// One project per case, all built by one dotnet build of a solution (two MSBuild nodes): each project is built and
    /// fails on its own, with its own errors, and the process and restore start-up is paid once instead of per case.
    /// </summary>
    private static async Task<MatrixRun> RunMatrixAsync(ProductFeed feed)
    {
        var projects = new Dictionary<string, GeneratedProject>(StringComparer.Ordinal);
        foreach (var declaration in Cases(feed.Kernel, feed.Initrd, HostMemoryMiB()))
        {
            var project = feed.CreateProject(declaration.Name, declaration.Items);
            if (declaration.Boots)
            {
                project.CopyGuest();
            }

            projects[declaration.Name] = project;
        }

        var solution = Path.Combine(feed.ProjectsDirectory, "matrix.slnx");
        File.WriteAllText(solution, "<Solution>\n" + string.Concat(projects.Values.Select(p =>
            $"  <Project Path=\"{System.Security.SecurityElement.Escape(Path.GetRelativePath(feed.ProjectsDirectory, p.ProjectFile))}\" />\n")) + "</Solution>\n");
        var result = await feed.RunAsync(feed.ProjectsDirectory, ["build", solution, "-m:2", .. GeneratedProject.BuildFlags], TimeSpan.FromMinutes(10), slots: 2);
        var left = projects.ToDictionary(p => p.Key, p => QemuProcesses.Under(p.Value.Directory), StringComparer.Ordinal);
        return new MatrixRun(projects, result, left);
    }

    private sealed record MatrixRun(IReadOnlyDictionary<string, GeneratedProject> Projects, DotnetResult Result,
        IReadOnlyDictionary<string, IReadOnlyList<string>> QemuLeft);

    private static long HostMemoryMiB()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }
}
